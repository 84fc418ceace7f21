"""Feed leases across processes: each feed read once, shared out, taken over, given up when lost."""

import tempfile
import time
from pathlib import Path

import gevent

from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.application.feed_ownership import FeedOwnership, LeaseSettings
from app.application.recent_window import RecentWindow
from app.composition.pipeline import build_pipeline
from app.domain.minutes import SealMark
from app.domain.tick import Tick
from tests.support.fakes import Clock, FlakyCache, MemoryLeases, MemoryStore, ScriptedSource
from tests.unit.test_pipeline import settings

FEEDS = ["a", "b", "c", "d"]
POLL = 1.0  # LeaseSettings(8 * POLL).poll


class Process:
    """One process of several sharing the leases, the store and the cache, with a clock the test moves."""

    def __init__(self, name: str, leases: MemoryLeases, store: MemoryStore, cache: FlakyCache, clock: Clock) -> None:
        spool = FileSpool(Path(tempfile.mkdtemp()) / "spool.jsonl", 1 << 20, name)
        self.aggregator = MinuteAggregator(store, spool, grace_ms=1000)
        self.pipeline = build_pipeline(settings(), cache, RecentWindow(3_600_000, 1000), self.aggregator)
        self.feeds = FeedOwnership(
            leases.of(name),
            leases.of(name),
            self.pipeline,
            self.aggregator,
            LeaseSettings(8 * POLL),
            name,
            clock,
        )
        self.aggregator.fence_listener = self.feeds
        self.feeds.want([ScriptedSource(feed, []) for feed in FEEDS])
        self.cache = cache

    def cycle(self) -> None:
        self.feeds._cycle()
        self.aggregator.claim_pending(self.cache)  # what the aggregator's cadence does


def cluster(n: int) -> tuple[list[Process], MemoryLeases, MemoryStore, Clock]:
    leases, store, clock = MemoryLeases(), MemoryStore(), Clock(1000.0)
    cache = FlakyCache(time.time)
    return [Process(f"p{i}", leases, store, cache, clock) for i in range(n)], leases, store, clock


def settle(processes: list[Process], clock: Clock, cycles: int = 4) -> None:
    for _ in range(cycles):
        for process in processes:
            process.cycle()
        clock.now += POLL


def test_feeds_are_shared_out_each_read_by_exactly_one_process() -> None:
    processes, _leases, store, clock = cluster(2)
    settle(processes, clock)
    held = [sorted(p.feeds.held()) for p in processes]
    assert sorted(held[0] + held[1]) == FEEDS
    assert [len(h) for h in held] == [2, 2]
    assert [sorted(p.pipeline.attached()) for p in processes] == held
    assert set(store.owners) == set(FEEDS)  # each claimed in the store before it was read


def test_a_dead_process_feeds_are_taken_over_and_a_free_feed_waits_two_polls() -> None:
    processes, leases, store, clock = cluster(2)
    settle(processes, clock)
    dead, alive = processes
    lost = dead.feeds.held()
    for feed in lost:  # kill -9: nothing renews its leases or heartbeat, which lapse
        del leases.holder[feed]
    del leases.beats["p0"]
    alive.cycle()
    assert sorted(alive.feeds.held()) != FEEDS  # seen free once: not yet
    clock.now += 2 * POLL
    alive.cycle()
    assert sorted(alive.feeds.held()) == FEEDS
    tokens = {feed: alive.aggregator.lease(feed) for feed in lost}
    assert all(store.owners[feed][:2] == (tokens[feed], SealMark(tokens[feed], 0)) for feed in lost)  # replayed


def test_a_process_that_lost_its_lease_stops_reading_at_once() -> None:
    processes, leases, _store, clock = cluster(1)
    settle(processes, clock)
    [process] = processes
    leases.holder["a"] = "intruder"
    process.cycle()
    assert "a" not in process.feeds.held()
    assert "a" not in process.pipeline.attached()


def test_while_redis_is_down_the_owner_keeps_reading_and_renews_first_when_it_is_back() -> None:
    processes, leases, _store, clock = cluster(2)
    settle(processes, clock)
    first, second = processes
    mine = sorted(first.feeds.held())
    leases.down = True
    clock.now += 30  # far past every TTL
    first.cycle()
    second.cycle()
    assert sorted(first.feeds.held()) == mine
    assert sorted(first.pipeline.attached()) == mine
    leases.down = False
    leases.holder.clear()  # Redis came back empty
    second.cycle()  # sees them free once
    first.cycle()  # the owner takes its own leases back
    clock.now += 3 * POLL
    second.cycle()
    assert sorted(first.feeds.held()) == mine
    assert all(leases.holder[feed] == "p0" for feed in mine)


def test_after_redis_comes_back_empty_nobody_takes_a_feed_before_its_owner_could_see_redis_again() -> None:
    """The other process sees Redis again first, twice, two polls apart: the owner, later, still keeps its feeds."""
    processes, leases, _store, clock = cluster(2)
    settle(processes, clock)
    first, second = processes
    mine = sorted(first.feeds.held())
    leases.down = True
    clock.now += 30
    first.cycle()
    second.cycle()
    leases.down = False
    leases.holder.clear()  # Redis came back empty, its registry too
    leases.beats.clear()
    second.cycle()  # alone, as far as it can tell
    clock.now += 2 * POLL
    second.cycle()  # its feeds seen free twice: without the quiet period it would take them all
    assert not set(second.feeds.held()) & set(mine)
    clock.now += 2 * POLL
    first.cycle()  # the owner, late (a breaker still open, a slow host), takes its own back
    clock.now += 8 * POLL
    second.cycle()
    assert sorted(first.feeds.held()) == mine
    assert all(leases.holder[feed] == "p0" for feed in mine)


def test_rows_refused_for_a_newer_token_stop_the_feed_and_let_its_lease_go() -> None:
    processes, leases, store, clock = cluster(1)
    settle(processes, clock)
    [process] = processes
    token, mark, pending = store.owners["b"]
    store.owners["b"] = (token + 100, mark, pending)  # another process claimed it meanwhile
    process.aggregator.add([Tick("b", "BTCUSDT", 5.0, int(time.time() * 1000), 1, lease=token)])
    process.aggregator.close_all()
    assert process.aggregator.flush()  # refused by the store
    assert "b" not in process.feeds.held()
    assert "b" not in process.pipeline.attached()
    assert "b" not in leases.holder  # let go at once, not left to lapse


def test_a_feed_taken_back_is_kept_when_rows_of_the_earlier_lease_are_refused() -> None:
    processes, _leases, store, clock = cluster(1)
    settle(processes, clock)
    [process] = processes
    earlier = process.aggregator.lease("b")
    process.aggregator.add([Tick("b", "BTCUSDT", 5.0, int(time.time() * 1000), 1, lease=earlier)])
    process.aggregator.close_all()  # sealed under the earlier lease, not yet written
    process.feeds.want([ScriptedSource(feed, []) for feed in FEEDS if feed != "b"])  # a mode switch away ...
    process.feeds.want([ScriptedSource(feed, []) for feed in FEEDS])  # ... and back
    settle(processes, clock)
    assert process.aggregator.lease("b") > earlier
    assert process.aggregator.flush()  # the earlier lease's rows: refused (the replay counts them)
    assert store.owners["b"][0] == process.aggregator.lease("b")
    assert "b" in process.feeds.held()
    assert "b" in process.pipeline.attached()


def test_a_feed_lost_while_a_restart_reconnects_it_is_not_read_again() -> None:
    """A proxy change restarts the feeds while the lease loop finds one lost: they take turns."""
    processes, leases, _store, clock = cluster(1)
    settle(processes, clock)
    [process] = processes
    process.pipeline.start()
    try:
        leases.holder["a"] = "intruder"
        restart = gevent.spawn(process.feeds.restart)
        cycle = gevent.spawn(process.cycle)
        gevent.joinall([restart, cycle], raise_error=True)
        assert "a" not in process.feeds.held()
        assert "a" not in process.pipeline.attached()
    finally:
        process.pipeline.stop()


def test_lease_timings_follow_the_ttl_at_both_ends_of_its_range() -> None:
    timings = [(s.poll, s.expiry, s.claim_timeout) for s in map(LeaseSettings, (1.0, 8.0, 60.0))]
    assert timings == [(0.125, 0.625, 0.375), (1.0, 5.0, 1.0), (1.0, 57.0, 1.0)]


class SlowClaims(MemoryStore):
    """Each claim takes a whole poll."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def claim(self, exchange: str, token: int, timeout: float | None = None) -> list[SealMark]:
        self._clock.now += POLL
        return super().claim(exchange, token, timeout)


def test_leases_held_are_renewed_between_takes_that_take_long() -> None:
    leases, clock = MemoryLeases(), Clock(1000.0)
    process = Process("p0", leases, SlowClaims(clock), FlakyCache(time.time), clock)
    process.cycle()  # all four seen free
    clock.now += 2 * POLL
    before = leases.renewals
    process.feeds._cycle()  # takes all four, a poll each
    assert sorted(process.feeds.held()) == FEEDS
    assert leases.renewals - before == 1 + 2 + 3  # before the 2nd, 3rd and 4th take: those held so far


def test_once_shutdown_begins_no_feed_is_taken_and_those_held_are_renewed_until_handed_back() -> None:
    processes, leases, _store, clock = cluster(2)
    settle(processes, clock)
    first, second = processes
    mine = sorted(first.feeds.held())
    first.feeds.stop_taking()
    for feed in second.feeds.held():  # the other process dies meanwhile
        del leases.holder[feed]
    del leases.beats["p1"]
    renewals = leases.renewals
    settle([first], clock)
    assert sorted(first.feeds.held()) == mine  # its share grew, but it takes nothing now
    assert leases.renewals - renewals == 4 * len(mine)
    assert "p0" in leases.beats  # still shown as their owner while it drains
    for feed in mine:  # the drain stops the sources
        first.pipeline.detach(feed)
    first.feeds.restart()  # a proxy change arriving now reconnects nothing
    assert first.pipeline.attached() == []
    first.feeds.stop()
    assert [feed for feed, holder in leases.holder.items() if holder == "p0"] == []
    assert "p0" not in leases.beats
