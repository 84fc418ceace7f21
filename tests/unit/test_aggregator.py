from pathlib import Path

from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.domain.tick import Tick
from tests.support.fakes import Clock, MemoryStore

M = 1_763_712_000_000  # a minute boundary


def spool(tmp_path: Path) -> FileSpool:
    return FileSpool(tmp_path / "spool.jsonl", 1 << 20)


def ticks(exchange: str, symbol: str, minute: int, prices: list[float]) -> list[Tick]:
    return [Tick(exchange, symbol, price, minute + 1000 * i) for i, price in enumerate(prices)]


def test_closed_minutes_are_written_exactly_once_after_the_grace(tmp_path: Path) -> None:
    clock, store = Clock(M / 1000 + 30), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    agg.add(ticks("ex1", "BTCUSDT", M, [100.0, 103.0, 98.5, 101.0]))
    agg.add(ticks("ex2", "BTCUSDT", M, [200.0]))
    agg.close_due()
    assert agg.unsent_batches == 0
    assert agg.open_buckets == 2
    clock.now = (M + 61_000) / 1000  # minute over, grace not yet
    agg.close_due()
    assert agg.unsent_batches == 0
    clock.now = (M + 62_000) / 1000
    agg.close_due()
    assert agg.flush()
    row = store.rows[("ex1", "BTCUSDT", M)]
    assert (row.count, row.mean, row.low, row.high) == (4, 100.625, 98.5, 103.0)
    assert store.rows[("ex2", "BTCUSDT", M)].count == 1
    assert agg.rows_written == 2
    assert agg.open_buckets == 0


def test_store_outage_keeps_batches_and_retries_with_the_same_id(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    agg.add(ticks("ex1", "ETHUSDT", M, [1.0, 2.0, 3.0]))
    agg.close_due()
    store.down = True
    assert not agg.flush()
    assert agg.unsent_batches == 1
    assert not store.rows
    store.down = False
    assert agg.flush()
    assert store.rows[("ex1", "ETHUSDT", M)].count == 3
    assert store.attempts == 2


def test_partial_minute_at_shutdown_then_the_rest_adds_up(tmp_path: Path) -> None:
    clock, store = Clock((M + 10_000) / 1000), MemoryStore()
    first = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    first.add(ticks("ex1", "SOLUSDT", M, [10.0, 20.0]))
    first.close_all()
    assert first.flush()
    assert store.rows[("ex1", "SOLUSDT", M)].count == 2
    # The process comes back within the same minute and sees more of it.
    second = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    second.add([Tick("ex1", "SOLUSDT", 30.0, M + 20_000), Tick("ex1", "SOLUSDT", 5.0, M + 21_000)])
    clock.now = (M + 70_000) / 1000
    second.close_due()
    assert second.flush()
    row = store.rows[("ex1", "SOLUSDT", M)]
    assert (row.count, row.mean, row.low, row.high) == (4, 16.25, 5.0, 30.0)


def test_late_tick_of_a_written_minute_becomes_a_delta(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    agg.add(ticks("ex1", "BTCUSDT", M, [10.0]))
    agg.close_due()
    agg.flush()
    agg.add([Tick("ex1", "BTCUSDT", 40.0, M + 59_999)])
    agg.close_due()
    agg.flush()
    row = store.rows[("ex1", "BTCUSDT", M)]
    assert (row.count, row.mean, row.high) == (2, 25.0, 40.0)


def test_sealed_minutes_survive_a_crash_in_the_spool(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    store.down = True
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    agg.add(ticks("ex1", "BTCUSDT", M, [1.0, 2.0]))
    agg.close_due()
    assert not agg.flush()
    # The process dies here; a new one finds the batch on disk and writes it once.
    store.down = False
    revived = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    assert revived.unsent_batches == 1
    assert revived.flush()
    assert revived.flush()
    assert store.rows[("ex1", "BTCUSDT", M)].count == 2
    assert MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock).unsent_batches == 0
