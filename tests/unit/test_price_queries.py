import re

import pytest

from app.application.modes import ModeService
from app.application.price_queries import (
    ELSEWHERE,
    FROM_MEMORY_ONLY_SINCE_START,
    STORE_UNAVAILABLE,
    NoData,
    PriceQueries,
)
from app.application.recent_window import RecentWindow
from app.application.trade_gaps import TradeGaps
from app.domain.buckets import CacheBatch
from app.domain.errors import UnknownExchange, UnknownSymbol
from app.domain.feed_map import FeedMap
from app.domain.market import Market
from app.domain.period import parse_period
from app.domain.tick import Tick
from app.domain.time_grid import floor_to
from tests.support.fakes import SEQ, AllFeeds, Clock, FlakyCache, MemoryStore, ScriptedSource
from tests.support.stores import DEFAULT_RETENTION

NOW_MS = 1_763_712_345_000
MIN = 60_000


class Fixture:
    def __init__(self) -> None:
        self.clock = Clock(NOW_MS / 1000)
        self.cache = FlakyCache(self.clock)
        self.fallback = RecentWindow(3_600_000, 10_000, self.clock)
        self.store = MemoryStore()
        self.seq = 0
        self.gaps = TradeGaps()
        sources = {"test": [ScriptedSource("t1", [])], "live": [ScriptedSource("a", []), ScriptedSource("b", [])]}
        feeds: AllFeeds = None  # type: ignore[assignment]  # queries never switch modes
        self.modes = ModeService(feeds, sources, "live")
        market = Market(["BTCUSDT", "ETHUSDT"], ["t1", "a", "b"])
        self.queries = PriceQueries(
            market,
            self.modes,
            self.cache,
            self.fallback,
            self.store,
            5 * MIN,
            self,
            self,
            FeedMap(),
            self.gaps,
            DEFAULT_RETENTION,
            clock=self.clock,
        )

    cache_consistent = True

    def reading_since(self, exchange: str) -> int | None:
        """This one process reads every feed."""
        return 0

    def feed(self, *ticks: Tick) -> None:
        for tick in ticks:  # the pipeline numbers ticks as they arrive; the cache tells them apart by it
            self.seq += 1
            tick.seq = self.seq
        self.cache.write(CacheBatch(ticks, []))
        self.cache.mark(0, sorted({tick.exchange for tick in ticks}))
        self.fallback.write(ticks)


@pytest.fixture
def world() -> Fixture:
    f = Fixture()
    f.feed(
        Tick("a", "BTCUSDT", 100.0, NOW_MS - 50_000),
        Tick("b", "BTCUSDT", 104.0, NOW_MS - 20_000),
        Tick("a", "BTCUSDT", 99.0, NOW_MS - 10_000),
        Tick("b", "BTCUSDT", 101.0, NOW_MS - 1_000),
        Tick("t1", "BTCUSDT", 5.0, NOW_MS - 500),  # test-mode exchange: not in live answers
        Tick("a", "BTCUSDT", 90.0, NOW_MS - 70_000),  # outside a 1m window
    )
    return f


def test_latest_is_the_newest_among_the_current_modes_exchanges(world: Fixture) -> None:
    symbol, price = world.queries.latest("btcusdt")
    assert (symbol, price.exchange, price.price, price.ts_ms) == ("BTCUSDT", "b", 101.0, NOW_MS - 1_000)
    _, price = world.queries.latest("BTCUSDT", "A")
    assert (price.exchange, price.price) == ("a", 99.0)


def test_window_stats_are_exact(world: Fixture) -> None:
    answer = world.queries.window("BTCUSDT", None, parse_period("1m"))
    stats = answer.stats
    assert (stats.count, stats.mean) == (4, 101.0)
    assert (stats.high, stats.high_exchange, stats.high_ts) == (104.0, "b", NOW_MS - 20_000)
    assert (stats.low, stats.low_exchange, stats.low_ts) == (99.0, "a", NOW_MS - 10_000)
    assert answer.partial == ()
    only_a = world.queries.window("BTCUSDT", "a", parse_period("2m")).stats
    assert (only_a.count, only_a.mean, only_a.low) == (3, 289.0 / 3, 90.0)


def test_window_bounds_are_open_below_and_closed_above(world: Fixture) -> None:
    world.feed(Tick("a", "ETHUSDT", 1.0, NOW_MS - 30_000), Tick("a", "ETHUSDT", 2.0, NOW_MS - 29_999))
    stats = world.queries.window("ETHUSDT", None, parse_period("30s")).stats
    assert (stats.count, stats.mean) == (1, 2.0)


def test_cache_outage_falls_back_to_the_in_process_window(world: Fixture) -> None:
    world.cache.down = True
    assert world.queries.latest("BTCUSDT")[1].price == 101.0
    assert world.queries.window("BTCUSDT", None, parse_period("1m")).stats.count == 4


def test_long_periods_add_stored_minutes_weighted_by_count(world: Fixture) -> None:
    from app.domain.minutes import MinuteBatch, MinuteRow

    old = floor_to(NOW_MS - 20 * MIN, MIN)
    world.store.write(
        MinuteBatch(
            "b1",
            (MinuteRow("a", "BTCUSDT", old, 10, 50.0, 40.0, 60.0), MinuteRow("b", "BTCUSDT", old, 1, 80.0, 80.0, 80.0)),
            SEQ,
        )
    )
    answer = world.queries.window("BTCUSDT", None, parse_period("1h"))
    stats = answer.stats
    # Raw part: all four live ticks plus the one 70 s ago; stored part: 11 samples.
    assert stats.count == 5 + 11
    assert stats.total == pytest.approx(100 + 104 + 99 + 101 + 90 + 500 + 80)
    assert (stats.low, stats.low_exchange, stats.low_ts) == (40.0, "a", old)
    assert stats.high == 104.0
    world.store.down = True
    partial = world.queries.window("BTCUSDT", None, parse_period("1h"))
    assert (partial.partial, partial.stats.count) == ((STORE_UNAVAILABLE,), 5)


def test_errors(world: Fixture) -> None:
    with pytest.raises(UnknownSymbol):
        world.queries.latest("DOGEUSD")
    with pytest.raises(UnknownExchange):
        world.queries.window("BTCUSDT", "nasdaq", parse_period("1m"))
    with pytest.raises(NoData):
        world.queries.window("ETHUSDT", None, parse_period("1s"))
    with pytest.raises(NoData):
        world.queries.latest("ETHUSDT")


class SplitReaders(Fixture):
    """This process reads ``a`` (and started 40 s ago); another process reads ``b``."""

    def reading_since(self, exchange: str) -> int | None:
        return 0 if exchange == "a" else None


def test_an_answer_over_several_exchanges_gives_the_reason_of_every_part() -> None:
    world = SplitReaders()
    world.feed(Tick("a", "BTCUSDT", 100.0, NOW_MS - 10_000), Tick("b", "BTCUSDT", 104.0, NOW_MS - 5_000))
    world.fallback.since_ms = NOW_MS - 40_000
    world.cache.down = True
    answer = world.queries.window("BTCUSDT", None, parse_period("1m"))
    assert answer.stats.count == 1  # a's tick from memory; b's is read by the other process
    assert answer.partial == (FROM_MEMORY_ONLY_SINCE_START, ELSEWHERE.format("b"))


def test_a_feed_read_elsewhere_alone_with_the_cache_down_is_not_found_saying_why() -> None:
    """Nothing of it in this process's memory: not found, and why (no server error)."""
    world = SplitReaders()
    world.feed(Tick("b", "BTCUSDT", 104.0, NOW_MS - 5_000))
    world.cache.down = True
    with pytest.raises(
        NoData, match=re.escape(f"no ticks for BTCUSDT in the last 1m (partial: {ELSEWHERE.format('b')})")
    ):
        world.queries.window("BTCUSDT", "b", parse_period("1m"))
