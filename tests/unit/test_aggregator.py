from pathlib import Path

from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.application.ports import CacheBatch, SealMark
from app.domain.tick import Tick
from tests.support.fakes import Clock, FlakyCache, MemoryStore

M = 1_763_712_000_000  # a minute boundary


def spool(tmp_path: Path) -> FileSpool:
    return FileSpool(tmp_path / "spool.jsonl", 1 << 20)


def ticks(exchange: str, symbol: str, minute: int, prices: list[float], first_seq: int = 1) -> list[Tick]:
    return [Tick(exchange, symbol, price, minute + 1000 * i, first_seq + i) for i, price in enumerate(prices)]


def test_closed_minutes_are_written_exactly_once_after_the_grace(tmp_path: Path) -> None:
    clock, store = Clock(M / 1000 + 30), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
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


def test_a_row_carries_open_close_volume_and_vwap_by_trade_time_then_arrival(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
    agg.add(
        [
            Tick("ex1", "BTCUSDT", 101.0, M + 500, 1, 2.0),
            Tick("ex1", "BTCUSDT", 100.0, M + 100, 2),  # earlier trade time: the open, though it came second
            Tick("ex1", "BTCUSDT", 103.0, M + 900, 3, 1.0),
            Tick("ex1", "BTCUSDT", 104.0, M + 900, 4, 1.0),  # the same ms, arrived later: the close
        ]
    )
    agg.close_due()
    assert agg.flush()
    row = store.rows[("ex1", "BTCUSDT", M)]
    assert (row.open, row.open_ms, row.close, row.close_ms) == (100.0, M + 100, 104.0, M + 900)
    assert (row.volume, row.vwap) == (4.0, (202.0 + 103.0 + 104.0) / 4.0)


def test_store_outage_keeps_batches_and_retries_with_the_same_id(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
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
    first = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
    first.add(ticks("ex1", "SOLUSDT", M, [10.0, 20.0]))
    first.close_all()
    assert first.flush()
    assert store.rows[("ex1", "SOLUSDT", M)].count == 2
    # The process comes back within the same minute and sees more of it.
    second = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-2", clock=clock)
    second.add([Tick("ex1", "SOLUSDT", 30.0, M + 20_000), Tick("ex1", "SOLUSDT", 5.0, M + 21_000)])
    clock.now = (M + 70_000) / 1000
    second.close_due()
    assert second.flush()
    row = store.rows[("ex1", "SOLUSDT", M)]
    assert (row.count, row.mean, row.low, row.high) == (4, 16.25, 5.0, 30.0)


def test_late_tick_of_a_written_minute_becomes_a_delta(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
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
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
    agg.add(ticks("ex1", "BTCUSDT", M, [1.0, 2.0]))
    agg.close_due()
    assert not agg.flush()
    # The process dies here; a new one finds the batch on disk and writes it once.
    store.down = False
    revived = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-2", clock=clock)
    assert revived.unsent_batches == 1
    assert revived.flush()
    assert revived.flush()
    assert store.rows[("ex1", "BTCUSDT", M)].count == 2
    assert MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-3", clock=clock).unsent_batches == 0


def test_a_due_minute_seals_every_open_bucket_under_one_mark(tmp_path: Path) -> None:
    clock, store = Clock((M + 62_000) / 1000), MemoryStore()
    the_spool = spool(tmp_path)
    agg = MinuteAggregator(store, the_spool, grace_ms=2000, run="run-1", clock=clock)
    agg.add(ticks("ex1", "BTCUSDT", M, [1.0, 2.0, 3.0]))
    agg.add(ticks("ex1", "BTCUSDT", M + 60_000, [4.0], first_seq=4))  # the unfinished minute
    agg.close_due()
    [batch] = the_spool.pending()
    assert sorted((r.minute_ms, r.count) for r in batch.rows) == [(M, 3), (M + 60_000, 1)]
    assert batch.mark == the_spool.mark == SealMark("run-1", 4)
    assert agg.open_buckets == 0


def test_the_ticks_a_crashed_process_never_sealed_are_replayed_once(tmp_path: Path) -> None:
    clock, store = Clock((M + 30_000) / 1000), MemoryStore()
    cache = FlakyCache(clock, run="run-1")
    first = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
    sealed = ticks("ex1", "BTCUSDT", M, [10.0, 20.0, 30.0, 40.0])
    unsealed = [Tick("ex1", "BTCUSDT", 70.0, M + 50_000, 5), Tick("ex2", "BTCUSDT", 5.0, M + 51_000, 6)]
    for batch in (sealed, unsealed):
        first.add(batch)
        cache.write(CacheBatch(batch, []))
        if batch is sealed:
            first.close_all()  # a checkpoint; then the process dies before the next one
    second = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-2", clock=clock)
    cache.down = True
    second.replay(cache)  # the cache is down: try again later
    assert second.ticks_replayed == 0
    cache.down = False
    second.replay(cache)
    second.replay(cache)  # once only
    assert second.ticks_replayed == 2
    second.close_all()
    assert second.flush()
    ex1, ex2 = store.rows[("ex1", "BTCUSDT", M)], store.rows[("ex2", "BTCUSDT", M)]
    assert (ex1.count, ex1.mean, ex1.low, ex1.high) == (5, 34.0, 10.0, 70.0)
    assert (ex2.count, ex2.mean) == (1, 5.0)


def test_nothing_is_replayed_after_a_clean_stop_or_by_the_same_process(tmp_path: Path) -> None:
    clock, store = Clock((M + 30_000) / 1000), MemoryStore()
    cache = FlakyCache(clock, run="run-1")
    first = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-1", clock=clock)
    first.add(ticks("ex1", "BTCUSDT", M, [10.0, 20.0]))
    cache.write(CacheBatch(ticks("ex1", "BTCUSDT", M, [10.0, 20.0]), []))
    first.close_all()
    first.replay(cache)
    second = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, run="run-2", clock=clock)
    second.replay(cache)
    assert (first.ticks_replayed, second.ticks_replayed, second.open_buckets) == (0, 0, 0)
