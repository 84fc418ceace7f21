"""A trade gap found by the process reading its feed makes every process's answers partial: windows over one
exchange or all of them (highest, lowest and average alike) and candles, through the real Redis gap book."""

from app.adapters.redis.clients import make_client
from app.adapters.redis.gap_book import KEPT, RedisGapBook
from app.adapters.redis.keys import RedisKeys
from app.application.candle_queries import CandleQueries
from app.application.trade_gaps import TradeGaps
from app.config.schema import RedisConfig
from app.domain.candles import parse_interval
from app.domain.missed_trades import TradeGap
from app.domain.period import parse_period
from app.domain.tick import Tick
from tests.conftest import REDIS_URL
from tests.support.net import free_port
from tests.unit.test_price_queries import MIN, NOW_MS, Fixture

GAP = TradeGap("a", "BTCUSDT", NOW_MS - 30_000, NOW_MS - 25_000, 7)
SAID = "7 trades of a BTCUSDT lost between 2025-11-21T08:05:15.000Z and 2025-11-21T08:05:20.000Z"


def book(prefix: str, url: str = REDIS_URL) -> RedisGapBook:
    return RedisGapBook(make_client(RedisConfig(url=url), 0.5), RedisKeys(prefix, False), 0.2)


class OtherProcess(Fixture):
    """A process that reads no feed (its answers come from the cache), knowing gaps only through the book."""

    def __init__(self, gaps: TradeGaps) -> None:
        super().__init__()
        self.gaps = self.queries._gaps = gaps
        self.candles = CandleQueries(self.queries, self.store, 5 * MIN, self.clock)

    def reading_since(self, exchange: str) -> int | None:
        return None


def test_a_gap_recorded_by_one_process_makes_every_answer_of_another_partial(redis_prefix: str) -> None:
    reader, answering = TradeGaps(book=book(redis_prefix)), OtherProcess(TradeGaps(book=book(redis_prefix)))
    answering.feed(Tick("a", "BTCUSDT", 100.0, NOW_MS - 40_000), Tick("b", "BTCUSDT", 104.0, NOW_MS - 10_000))
    reader.record("a", GAP)
    for exchange in ("a", None):  # one exchange, and all of them: the gap of one part makes the whole partial
        answer = answering.queries.window("BTCUSDT", exchange, parse_period("1m"))
        assert answer.partial == (SAID,)
    assert answering.queries.window("BTCUSDT", "b", parse_period("1m")).partial == ()
    assert answering.queries.window("BTCUSDT", None, parse_period("20s")).partial == ()  # after the gap
    for exchange in ("a", None):
        candles = answering.candles.candles("BTCUSDT", exchange, parse_interval("1m"), None, None, 2)
        assert candles.partial == (SAID,)
    assert answering.candles.candles("BTCUSDT", "b", parse_interval("1m"), None, None, 2).partial == ()


def test_a_gap_found_while_redis_is_down_is_booked_once_it_answers(redis_prefix: str) -> None:
    down = book(redis_prefix, f"redis://127.0.0.1:{free_port()}/0")
    reader = TradeGaps(book=down)
    reader.record("a", GAP)
    assert reader.overlapping("BTCUSDT", ["a"], NOW_MS - MIN, NOW_MS) == [GAP]  # its own, meanwhile
    reader._book = book(redis_prefix)  # Redis answers again
    assert reader.overlapping("BTCUSDT", ["a", "b"], NOW_MS - MIN, NOW_MS) == [GAP]
    assert TradeGaps(book=book(redis_prefix)).overlapping("BTCUSDT", ["b", "a"], NOW_MS - MIN, NOW_MS) == [GAP]


def test_a_pair_keeps_its_newest_gaps(redis_prefix: str) -> None:
    shared = book(redis_prefix)
    for n in range(KEPT + 5):
        shared.add(TradeGap("a", "BTCUSDT", n * 10, n * 10 + 5, None))
    kept = shared.overlapping("BTCUSDT", ["a"], 0, 10**6)
    assert [gap.from_ms for gap in kept] == [n * 10 for n in range(5, KEPT + 5)]
    assert kept[0].lost is None
