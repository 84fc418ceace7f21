from pathlib import Path

from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.domain.buckets import CacheBatch
from app.domain.minutes import SealMark
from app.domain.tick import Tick
from tests.support.fakes import Clock, FlakyCache, MemoryStore

M = 1_763_712_000_000  # a minute boundary


_open: list[FileSpool] = []


class Lost:
    """A fence listener that notes each feed it is told was fenced, and under which lease."""

    def __init__(self, into: list[tuple[str, int]]) -> None:
        self._into = into

    def feed_fenced(self, feed: str, lease: int) -> None:
        self._into.append((feed, lease))


def spool(tmp_path: Path) -> FileSpool:
    """A spool for a new process; the processes before it in the test are gone (their locks with them)."""
    while _open:
        _open.pop().close()
    _open.append(FileSpool(tmp_path / "spool.jsonl", 1 << 20, f"run-{len(list(tmp_path.iterdir()))}"))
    return _open[-1]


def ticks(
    exchange: str, symbol: str, minute: int, prices: list[float], first_seq: int = 1, lease: int = 0
) -> list[Tick]:
    """Ticks as the pipeline makes them: numbered, and read under the feed's lease (0: none)."""
    return [
        Tick(exchange, symbol, price, minute + 1000 * i, first_seq + i, lease=lease) for i, price in enumerate(prices)
    ]


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


def test_a_row_carries_open_close_volume_and_vwap_by_trade_time_then_arrival(tmp_path: Path) -> None:
    clock, store = Clock((M + 120_000) / 1000), MemoryStore()
    agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
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


def test_a_due_minute_seals_every_open_bucket_under_one_mark(tmp_path: Path) -> None:
    clock, store = Clock((M + 62_000) / 1000), MemoryStore()
    the_spool = spool(tmp_path)
    agg = MinuteAggregator(store, the_spool, grace_ms=2000, clock=clock)
    agg.add(ticks("ex1", "BTCUSDT", M, [1.0, 2.0, 3.0]))
    agg.add(ticks("ex1", "BTCUSDT", M + 60_000, [4.0], first_seq=4))  # the unfinished minute
    agg.close_due()
    [batch] = the_spool.pending()
    assert sorted((r.minute_ms, r.count) for r in batch.rows) == [(M, 3), (M + 60_000, 1)]
    assert (batch.seq, batch.fences) == (4, {"ex1": 0})
    assert agg.open_buckets == 0


def test_a_feed_taken_over_replays_once_what_its_dead_owner_never_sealed(tmp_path: Path) -> None:
    clock, store = Clock((M + 30_000) / 1000), MemoryStore()
    cache = FlakyCache(clock)
    first = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    first.take_over("ex1", 1)
    first.take_over("ex2", 2)
    assert first.claim_pending(cache)
    sealed = ticks("ex1", "BTCUSDT", M, [10.0, 20.0, 30.0, 40.0], lease=1)
    unsealed = [
        Tick("ex1", "BTCUSDT", 70.0, M + 50_000, 5, lease=1),
        Tick("ex2", "BTCUSDT", 5.0, M + 51_000, 6, lease=2),
    ]
    for batch in (sealed, unsealed):
        first.add(batch)
        cache.write(CacheBatch(batch, []))
        if batch is sealed:
            first.close_all()  # a checkpoint; then the process dies before the next one
            assert first.flush()
    second = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    second.take_over("ex1", 3)
    cache.down = True
    assert not second.claim_pending(cache)  # the cache is down: try again later
    assert second.ticks_replayed == 0
    cache.down = False
    assert second.claim_pending(cache)
    assert second.claim_pending(cache)  # once only
    assert second.ticks_replayed == 1  # ex1's unsealed tick; ex2 is not taken yet
    second.take_over("ex2", 4)
    assert second.claim_pending(cache)
    assert second.ticks_replayed == 2
    assert second.flush()
    ex1, ex2 = store.rows[("ex1", "BTCUSDT", M)], store.rows[("ex2", "BTCUSDT", M)]
    assert (ex1.count, ex1.mean, ex1.low, ex1.high) == (5, 34.0, 10.0, 70.0)
    assert (ex2.count, ex2.mean) == (1, 5.0)
    assert store.owners["ex1"][1:] == (SealMark(3, 0), [])  # the mark moved to the new lease with the replay


def successor_of_a_dead_owner(tmp_path: Path, store: MemoryStore) -> tuple[MinuteAggregator, FlakyCache, Clock]:
    """Lease 2 on ex1, just taken over from lease 1, which claimed it, cached two ticks and died unsealed."""
    clock = Clock((M + 30_000) / 1000)
    cache = FlakyCache(clock)
    first = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    first.take_over("ex1", 1)
    assert first.claim_pending(cache)
    cache.write(CacheBatch(ticks("ex1", "BTCUSDT", M, [10.0, 20.0], lease=1), []))
    successor = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    successor.take_over("ex1", 2)
    return successor, cache, clock


def test_a_successor_that_dies_before_storing_its_replay_is_replayed_too(tmp_path: Path) -> None:
    store = MemoryStore()
    second, cache, clock = successor_of_a_dead_owner(tmp_path, store)
    assert second.fence("ex1", 1.0)  # claimed, and reading ...
    cache.write(CacheBatch(ticks("ex1", "BTCUSDT", M, [30.0], first_seq=1, lease=2), []))  # ... then it dies too
    third = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    third.take_over("ex1", 3)
    assert third.claim_pending(cache)
    assert third.ticks_replayed == 3
    assert store.rows[("ex1", "BTCUSDT", M)].count == 3


def test_a_stale_owner_rows_are_refused_once_the_feed_is_claimed_by_a_newer_token(tmp_path: Path) -> None:
    clock, store = Clock((M + 30_000) / 1000), MemoryStore()
    cache = FlakyCache(clock)
    stale = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    lost: list[tuple[str, int]] = []
    stale.fence_listener = Lost(lost)
    stale.take_over("ex1", 1)
    assert stale.claim_pending(cache)
    read = ticks("ex1", "BTCUSDT", M, [10.0, 20.0], lease=1)
    stale.add(read)
    cache.write(CacheBatch(read, []))
    stale.close_all()  # sealed, not yet written: then the process pauses past its lease
    successor = MinuteAggregator(store, FileSpool(tmp_path / "other.jsonl", 1 << 20, "x"), 2000, clock)
    successor.take_over("ex1", 2)
    assert successor.claim_pending(cache)
    assert successor.ticks_replayed == 2  # the stale owner's batch never reached the store
    assert successor.flush()
    assert stale.flush()  # it wakes up and writes: refused, and it is told
    assert (lost, stale.rows_fenced, stale.rows_written) == ([("ex1", 1)], 1, 0)
    assert store.rows[("ex1", "BTCUSDT", M)].count == 2
    with_older = MinuteAggregator(store, FileSpool(tmp_path / "third.jsonl", 1 << 20, "y"), 2000, clock)
    with_older.take_over("ex1", 1)  # an old token can't claim it back
    with_older.fence_listener = Lost(lost)
    assert with_older.claim_pending(cache)
    assert lost == [("ex1", 1), ("ex1", 1)]


def test_a_feed_taken_back_counts_its_earlier_ticks_once_whether_or_not_a_successor_did(tmp_path: Path) -> None:
    """Its earlier rows carry the old lease (refused once it claims anew); the replay counts them instead."""
    for successor_stored in (False, True):
        clock, store = Clock((M + 30_000) / 1000), MemoryStore()
        cache = FlakyCache(clock)
        agg = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
        agg.take_over("ex1", 1)
        assert agg.claim_pending(cache)
        earlier = ticks("ex1", "BTCUSDT", M, [10.0, 20.0], lease=1)
        agg.add(earlier)
        cache.write(CacheBatch(earlier, []))  # then it hands the feed over (or loses it) ...
        if successor_stored:
            other = MinuteAggregator(store, FileSpool(tmp_path / f"o{clock.now}.jsonl", 1 << 20, "o"), 2000, clock)
            other.take_over("ex1", 2)
            assert other.claim_pending(cache)  # ... and a successor replays them
        agg.take_over("ex1", 3)  # ... and takes it back
        assert agg.claim_pending(cache)
        later = ticks("ex1", "BTCUSDT", M, [30.0], first_seq=3, lease=3)
        agg.add(later)
        cache.write(CacheBatch(later, []))
        agg.close_all()
        assert agg.flush()
        assert (store.rows[("ex1", "BTCUSDT", M)].count, agg.rows_fenced) == (3, 1)


class RetakenDuringClaim(MemoryStore):
    """While the cadence claims lease 2, the lease loop loses the feed and takes it back as lease 3."""

    def __init__(self) -> None:
        super().__init__()
        self.aggregator: MinuteAggregator | None = None

    def claim(self, exchange: str, token: int, timeout: float | None = None) -> list[SealMark]:
        if token == 2 and self.aggregator is not None:
            self.aggregator.take_over(exchange, 3)
            assert self.aggregator.fence(exchange, 1.0)
        return super().claim(exchange, token, timeout)


def test_a_feed_taken_back_while_its_claim_runs_still_replays_its_predecessor(tmp_path: Path) -> None:
    store = RetakenDuringClaim()
    agg, cache, _ = successor_of_a_dead_owner(tmp_path, store)
    store.aggregator = agg
    assert agg.claim_pending(cache)  # lease 2 refused (lease 3 claimed meanwhile): lease 3's claim stays due
    mine = ticks("ex1", "BTCUSDT", M, [30.0], first_seq=1, lease=3)
    agg.add(mine)
    agg.close_all()
    assert not agg.flush()  # lease 3's rows wait for its claim and replay ...
    assert agg.claim_pending(cache)
    assert agg.ticks_replayed == 2  # ... which counts what lease 1 left unsealed
    assert agg.flush()
    assert store.rows[("ex1", "BTCUSDT", M)].count == 3


def test_rows_carry_the_shard_they_were_read_under_and_each_shard_is_fenced_alone(tmp_path: Path) -> None:
    clock, store = Clock((M + 30_000) / 1000), MemoryStore()
    aggregator = MinuteAggregator(store, spool(tmp_path), grace_ms=2000, clock=clock)
    lost: list[tuple[str, int]] = []
    aggregator.fence_listener = Lost(lost)
    for feed, token in (("ex1/0", 1), ("ex1/1", 2)):
        aggregator.take_over(feed, token)
    assert aggregator.claim_pending(FlakyCache(clock))
    btc = ticks("ex1", "BTCUSDT", M, [10.0, 20.0], lease=1)
    eth = ticks("ex1", "ETHUSDT", M, [5.0], first_seq=3, lease=2)
    for tick in btc:
        tick.feed = "ex1/0"
    eth[0].feed = "ex1/1"
    aggregator.add(btc + eth)
    store.claim("ex1/0", 9)  # another process took shard 0 over
    aggregator.close_all()
    assert aggregator.flush()
    assert [(row.symbol, row.feed, row.count) for row in store.rows.values()] == [("ETHUSDT", "ex1/1", 1)]
    assert (aggregator.rows_written, aggregator.rows_fenced, lost) == (1, 1, [("ex1/0", 1)])


def test_a_seal_holds_one_lease_per_feed_in_each_batch(tmp_path: Path) -> None:
    """ex1 read under lease 1, then taken back as lease 2 before the seal: two batches, ex2 in the first."""
    the_spool = spool(tmp_path)
    agg = MinuteAggregator(MemoryStore(), the_spool, grace_ms=2000, clock=Clock(M / 1000 + 30))
    agg.add(ticks("ex1", "BTCUSDT", M, [10.0], lease=1))
    agg.add(ticks("ex2", "BTCUSDT", M, [20.0], first_seq=2, lease=7))
    agg.add(ticks("ex1", "ETHUSDT", M, [30.0], first_seq=3, lease=2))
    agg.add(ticks("ex1", "SOLUSDT", M, [40.0], first_seq=4, lease=1))
    agg.close_all()
    batches = list(the_spool.pending())
    assert [batch.fences for batch in batches] == [{"ex1": 1, "ex2": 7}, {"ex1": 2}]
    assert [sorted(row.symbol for row in batch.rows) for batch in batches] == [
        ["BTCUSDT", "BTCUSDT", "SOLUSDT"],
        ["ETHUSDT"],
    ]
