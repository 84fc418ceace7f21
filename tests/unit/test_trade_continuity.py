"""Finding missed trades from the ones delivered, recovering them, and saying what is lost for good."""

from collections.abc import Sequence

import gevent
from gevent.queue import Queue

from app.application.backfill import Backfill
from app.application.incomplete_minutes import IncompleteMinutes
from app.application.ports.storage import StorageUnavailable
from app.application.source_status import SourceStatus
from app.application.trade_continuity import TradeContinuity
from app.application.trade_gaps import TradeGaps, describe
from app.domain.minutes import MinuteBatch, MinuteRow
from app.domain.missed_trades import Missing, Recovery, TradeGap, TradeMark
from app.domain.tick import Tick
from tests.support.fakes import SEQ, Clock, MemoryStore

T0 = 1_763_712_000_000


def tick(exchange: str, symbol: str, trade_id: int, ts: int, feed: str = "") -> Tick:
    return Tick(exchange, symbol, 1.0, ts, 0, 1.0, str(trade_id), feed=feed or exchange)


class Cached:
    """Where the previous readers stopped, as the cache holds it (per exchange and symbol)."""

    def __init__(self, marks: dict[tuple[str, str], TradeMark] | None = None) -> None:
        self.marks = marks or {}
        self.asked: list[list[str]] = []

    def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]:
        self.asked.append(list(symbols))
        found = {s: self.marks.get((exchange, s)) for s in symbols}
        return {s: mark for s, mark in found.items() if mark is not None and mark.ts_ms >= since_ms}


def continuity_of(cached: Cached | None = None, clock: Clock | None = None) -> TradeContinuity:
    """Marks no older than a minute (at T0 + 30 s) resume a symbol."""
    return TradeContinuity(TradeGaps(), cached or Cached(), 60_000, clock or Clock(0.0), wall_ms=lambda: T0 + 30_000)


def drain(queue: Queue) -> list[Missing]:
    found = []
    while not queue.empty():
        found.append(queue.get())
    return found


def test_a_jump_in_sequential_ids_is_missing_trades_and_a_step_of_one_is_not() -> None:
    continuity = continuity_of()
    missing = continuity.watch("binance", "binance", sequential=True)
    continuity.started("binance")
    continuity.observe([tick("binance", "BTCUSDT", 10, T0), tick("binance", "BTCUSDT", 11, T0 + 1)])
    continuity.reconnected("binance", ["BTCUSDT", "ETHUSDT"])
    continuity.observe([tick("binance", "BTCUSDT", 12, T0 + 2), tick("binance", "BTCUSDT", 20, T0 + 9)])
    continuity.observe([tick("binance", "BTCUSDT", 15, T0 + 5)])  # recovered later: not a new gap
    assert drain(missing) == [Missing("BTCUSDT", TradeMark("12", T0 + 2), TradeMark("20", T0 + 9))]


def test_after_a_reconnect_each_symbols_next_trade_closes_a_possible_gap() -> None:
    continuity = continuity_of()
    missing = continuity.watch("okx", "okx", sequential=False)
    continuity.started("okx")
    continuity.observe([tick("okx", "BTCUSDT", 7, T0), tick("okx", "ETHUSDT", 3, T0 + 1)])
    continuity.observe([tick("okx", "BTCUSDT", 9, T0 + 5)])
    assert drain(missing) == []
    continuity.reconnected("okx", ["BTCUSDT", "ETHUSDT"])
    continuity.observe([tick("okx", "BTCUSDT", 99, T0 + 50), tick("okx", "BTCUSDT", 100, T0 + 51)])
    assert drain(missing) == [Missing("BTCUSDT", TradeMark("9", T0 + 5), TradeMark("99", T0 + 50))]


def test_a_symbol_is_silent_only_while_others_trade() -> None:
    clock = Clock(100.0)
    continuity = continuity_of(clock=clock)
    continuity.watch("binance", "binance", sequential=True)
    continuity.started("binance")
    continuity.observe([tick("binance", "BTCUSDT", 1, T0), tick("binance", "ETHUSDT", 1, T0)])
    clock.now = 108.0
    continuity.observe([tick("binance", "BTCUSDT", 2, T0 + 1)])
    assert continuity.silent("binance", ["BTCUSDT", "ETHUSDT", "SOLUSDT"], 5.0) == ["ETHUSDT", "SOLUSDT"]
    clock.now = 120.0
    assert continuity.silent("binance", ["BTCUSDT", "ETHUSDT"], 5.0) == []  # nothing flows: not per symbol


def test_a_feed_taken_over_resumes_each_symbol_from_its_previous_readers_last_trade() -> None:
    cached = Cached(
        {
            ("binance", "BTCUSDT"): TradeMark("10", T0),
            ("binance", "ETHUSDT"): TradeMark("70", T0 - 40_000),  # older than the retention: not ours to recover
            ("okx", "BTCUSDT"): TradeMark("5", T0),  # another exchange
        }
    )
    continuity = continuity_of(cached)
    missing = continuity.watch("binance/1", "binance", sequential=True)
    continuity.started("binance/1")
    continuity.reconnected("binance/1", ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    continuity.observe(
        [
            tick("binance", "BTCUSDT", 14, T0 + 20_000, "binance/1"),
            tick("binance", "ETHUSDT", 90, T0 + 20_000, "binance/1"),
            tick("binance", "SOLUSDT", 3, T0 + 20_000, "binance/1"),
        ]
    )
    assert drain(missing) == [Missing("BTCUSDT", TradeMark("10", T0), TradeMark("14", T0 + 20_000))]
    continuity.reconnected("binance/1", ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT"])  # a later connection
    assert cached.asked == [["BTCUSDT", "ETHUSDT", "SOLUSDT"], ["TONUSDT"]]  # only what it has not seen trade


def test_a_feed_without_sequential_ids_resumes_at_the_first_trade_after_the_mark() -> None:
    continuity = continuity_of(Cached({("okx", "BTCUSDT"): TradeMark("7", T0)}))
    missing = continuity.watch("okx", "okx", sequential=False)
    continuity.started("okx")
    continuity.reconnected("okx", ["BTCUSDT"])
    continuity.observe([tick("okx", "BTCUSDT", 99, T0 + 9_000), tick("okx", "BTCUSDT", 100, T0 + 9_001)])
    assert drain(missing) == [Missing("BTCUSDT", TradeMark("7", T0), TradeMark("99", T0 + 9_000))]


def test_without_the_cache_a_symbol_starts_afresh() -> None:
    class Down:
        def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]:
            raise StorageUnavailable("redis down")

    continuity = TradeContinuity(TradeGaps(), Down(), 60_000)
    missing = continuity.watch("okx", "okx", sequential=False)
    continuity.started("okx")
    continuity.reconnected("okx", ["BTCUSDT"])
    continuity.observe([tick("okx", "BTCUSDT", 99, T0)])
    assert drain(missing) == []


class PartialHistory:
    def recover(self, missing: Missing) -> Recovery:
        gap = TradeGap("binance", missing.symbol, missing.after.ts_ms, T0 + 65_000, 3)
        return Recovery([(missing.symbol, "2.5", T0 + 65_000, "1", "14")], gap)


def test_what_the_history_lacks_is_recorded_and_its_minute_rows_marked() -> None:
    marked: list[TradeGap] = []

    class Store(MemoryStore):
        def mark_incomplete(self, gap: TradeGap) -> None:
            marked.append(gap)

    incomplete = IncompleteMinutes(Store())
    gaps = TradeGaps(incomplete)
    queue: Queue = Queue()
    queue.put(Missing("BTCUSDT", TradeMark("10", T0), TradeMark("15", T0 + 70_000)))
    emitted: list[list] = []
    status = SourceStatus("binance")
    worker = gevent.spawn(
        Backfill("binance", "binance", PartialHistory(), True, gaps).run, queue, emitted.append, status
    )
    gevent.sleep(0.01)
    worker.kill()
    assert emitted == [[("BTCUSDT", "2.5", T0 + 65_000, "1", "14")]]
    assert status.snapshot().recovered == 1
    gap = TradeGap("binance", "BTCUSDT", T0, T0 + 65_000, 3)
    assert gaps.counts == {"binance": 1}
    assert marked == [gap]
    # A row of a minute the gap touches, written later (the recovered trade's), is marked again; others are not.
    incomplete.write(MinuteBatch("b1", (MinuteRow("binance", "BTCUSDT", T0 + 60_000, 1, 2.5, 2.5, 2.5),), SEQ))
    incomplete.write(MinuteBatch("b2", (MinuteRow("binance", "BTCUSDT", T0 + 180_000, 1, 2.5, 2.5, 2.5),), SEQ))
    assert marked == [gap, gap]
    assert [describe(g) for g in gaps.overlapping("BTCUSDT", ["binance", "okx"], T0 + 60_000, T0 + 120_000)] == [
        "3 trades of binance BTCUSDT lost between 2025-11-21T08:00:00.000Z and 2025-11-21T08:01:05.000Z"
    ]
    assert gaps.overlapping("BTCUSDT", ["binance"], T0 + 65_000, T0 + 120_000) == []


class OverlappingHistory:
    """An OKX-like history answering a span with its two ends (a whole entry of three trades at the first) too."""

    def recover(self, missing: Missing) -> Recovery:
        entry = [("BTCUSDT", "1.0", T0, "1", trade_id) for trade_id in ("70", "70:2", "70:3")]
        between = [("BTCUSDT", "1.5", T0 + 1, "1", "71"), ("BTCUSDT", "1.6", T0 + 2, 0.5, 72)]
        return Recovery([*entry, *between, ("BTCUSDT", "2.0", T0 + 3, "1", "73")], None)


def test_a_backfill_leaves_out_the_ends_of_its_span_even_those_another_process_saw() -> None:
    queue: Queue = Queue()
    queue.put(Missing("BTCUSDT", TradeMark("70:3", T0), TradeMark("73", T0 + 3)))
    emitted: list[list] = []
    worker = gevent.spawn(
        Backfill("okx", "okx", OverlappingHistory(), False, TradeGaps()).run, queue, emitted.append, SourceStatus("okx")
    )
    gevent.sleep(0.01)
    worker.kill()
    assert emitted == [[("BTCUSDT", "1.5", T0 + 1, "1", "71"), ("BTCUSDT", "1.6", T0 + 2, 0.5, 72)]]
