"""Which feeds this process reads: a lease per feed, shared out across every process.

Every process (each gunicorn worker of each host) runs one of these, and its
loop (one greenlet, every ``LeaseSettings.poll``) renews the leases held,
takes free feeds up to a fair share, hands back the newest beyond it, and
sends this process's heartbeat. The rules it keeps (the two-poll rule, the
claim before the first read, the read gate, losing a feed, Redis down,
shutdown, the one lock) are written once, in docs/design.md, "One reader
per feed"; the names below follow it.
"""

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gevent.event import Event
from gevent.lock import RLock

from app.application.aggregator import MinuteAggregator
from app.application.owned_loop import OwnedLoop
from app.application.pipeline import Pipeline
from app.application.ports.coordination import FeedLeases, ProcessRegistry
from app.application.ports.feeds import FeedSource
from app.application.ports.storage import StorageUnavailable
from app.application.process_report import ProcessReport
from app.domain.time_grid import seconds_to_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseSettings:
    """``ttl``: how soon a dead holder's feed is read again (``leases.ttl_seconds``)."""

    ttl: float

    @property
    def poll(self) -> float:
        """How often leases are renewed and free feeds looked for."""
        return min(1.0, self.ttl / 8)

    @property
    def expiry(self) -> float:
        """The lock's own TTL: three polls short of ``ttl``, the time others take to see it free and take it."""
        return self.ttl - 3 * self.poll

    @property
    def trusted_for(self) -> float:
        """How long after a renewal (or the taking) reads go through unchecked: a poll short of the expiry."""
        return self.expiry - self.poll

    @property
    def claim_timeout(self) -> float:
        """How long the loop waits for the store's claim of a feed it took: never so long its other leases
        lapse (a claim that times out is made again by the cadence)."""
        return min(1.0, self.expiry - 2 * self.poll)


class Reporter(Protocol):
    """What this process says about itself in its heartbeat."""

    def report(self) -> ProcessReport: ...


@dataclass
class _Held:
    source: FeedSource
    token: int
    since_ms: int
    valid_until: float
    renewed: Event = field(default_factory=Event)


class FeedOwnership:
    def __init__(
        self,
        leases: FeedLeases,
        registry: ProcessRegistry,
        pipeline: Pipeline,
        aggregator: MinuteAggregator,
        settings: LeaseSettings,
        run: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases = leases
        self._registry = registry
        self._pipeline = pipeline
        self._aggregator = aggregator
        self._settings = settings
        self._run = run
        self._clock = clock
        self._wanted: dict[str, FeedSource] = {}
        self._held: dict[str, _Held] = {}
        self._free_since: dict[str, float] = {}
        self._taking = True
        self._renewed_at = 0.0
        # Set by a cycle Redis did not answer; after it, no feed is taken before ``_quiet_until``.
        self._outage = False
        self._quiet_until = 0.0
        self._lock = RLock()
        self._wake = Event()
        self._loop = OwnedLoop(self._run_forever)
        # How many processes share the feeds, and the other ones' WebSocket clients, as of the last heartbeat.
        self.processes = 1
        self.stream_clients_elsewhere = 0
        # What this process says about itself in its heartbeat (connected by the composition root).
        self.reporter: Reporter | None = None

    # -- what the rest of the process asks -------------------------------

    def held(self) -> list[str]:
        return list(self._held)

    def reading_since(self, feed: str) -> int | None:
        """Since when (ms) this process reads ``feed``; None when another process does."""
        held = self._held.get(feed)
        return None if held is None else held.since_ms

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        self._loop.start()

    def stop_taking(self) -> None:
        """Shutdown begins: take no more feeds, but keep renewing the held ones while the pipeline drains."""
        with self._lock:
            self._taking = False

    def stop(self) -> None:
        """Once drained: hand every lease back, so other processes take the feeds at once."""
        self._loop.stop()
        with self._lock:
            for name in list(self._held):
                self._release(name)
            with contextlib.suppress(StorageUnavailable):
                self._registry.leave()

    def want(self, sources: Sequence[FeedSource]) -> None:
        """Read these feeds (those this process wins) and no others: the current mode's."""
        with self._lock:
            self._wanted = {source.name: source for source in sources}
            for name in list(self._held):
                if name not in self._wanted:
                    self._release(name)
        self._wake.set()

    def restart(self, names: Sequence[str] | None = None) -> None:
        """Reconnect the feeds held here (or those named), so new routing applies; not once shutdown began."""
        with self._lock:
            if not self._taking:
                return
            for name, held in list(self._held.items()):
                if names is None or name in names:
                    self._pipeline.detach(name)
                    self._attach(name, held)

    # -- the loop ---------------------------------------------------------

    def _run_forever(self) -> None:
        while True:
            try:
                self._cycle()
            except Exception:  # a bug here must not leave feeds unread or leases unrenewed ever after
                log.exception("feed lease cycle failed")
            self._wake.clear()
            self._wake.wait(self._settings.poll)

    def _cycle(self) -> None:
        with self._lock:
            try:
                self._share_out()
            except StorageUnavailable:
                self._keep_while_unreachable()

    def _share_out(self) -> None:
        others = self._others()
        if others is None:  # Redis down: nobody can be counted; the leases may still answer (PostgreSQL)
            self._redis_lost()
        elif self._outage:  # the first cycle Redis answers again: its owners get a lock TTL to take theirs back
            self._outage = False
            self._quiet_until = self._clock() + self._settings.expiry
        # Without a count of the others, a process takes what it can: the share-out resumes with Redis.
        processes = self.processes = 1 + len(others or ())
        self.stream_clients_elsewhere = sum(p.websocket_clients for p in others or ())
        self._renew()
        if self._taking:
            share = math.ceil(len(self._wanted) / processes)
            while len(self._held) > share:
                newest = max(self._held, key=lambda name: self._held[name].since_ms)
                log.info("handing a feed over to share them out", extra={"exchange": newest, "processes": processes})
                self._release(newest)
            self._take_free(share)
        if others is not None:  # after the changes, so every process's /health shows this cycle's owners
            self._registry.heartbeat(self.reporter.report() if self.reporter else ProcessReport(run=self._run))

    def _others(self) -> list[ProcessReport] | None:
        """The other processes, by their heartbeats; None while Redis does not answer."""
        try:
            return [p for p in self._registry.processes() if p.run != self._run]
        except StorageUnavailable:
            return None

    def _redis_lost(self) -> None:
        """What was seen free before the outage no longer counts: a feed must be seen free afresh, and none is
        taken for a lock TTL once Redis answers (if it came back empty, every owner must first see it again)."""
        if not self._outage:
            self._free_since.clear()
        self._outage = True

    def _keep_while_unreachable(self) -> None:
        """Neither Redis nor PostgreSQL answers: nobody can take a feed, so the owner goes on reading."""
        self._outage = True
        self._free_since.clear()
        for held in self._held.values():
            held.valid_until = math.inf
            held.renewed.set()

    def _renew(self) -> None:
        self._renewed_at = self._clock()
        for name, held in list(self._held.items()):
            if self._leases.renew(name):
                held.valid_until = self._clock() + self._settings.trusted_for
                held.renewed.set()
            else:
                self._lose(name, "another process holds its lease")

    def _take_free(self, share: int) -> None:
        """Take free feeds up to the share; a feed counts as free once seen free on consecutive cycles."""
        if self._clock() < self._quiet_until:
            return
        free = [name for name in self._wanted if name not in self._held]
        holders = self._leases.holders(free)
        now = self._clock()
        for name in free:
            if holders.get(name) is None:
                self._free_since.setdefault(name, now)
            else:
                self._free_since.pop(name, None)
        poll = self._settings.poll
        for name in sorted(free, key=self._preference):
            if len(self._held) >= share:
                return
            if now - self._free_since.get(name, now) < 1.9 * poll:  # two polls, less a timer's early wake-up
                continue
            if self._clock() - self._renewed_at >= poll:  # taking several (each a store round trip) took a while
                self._renew()
            acquired_at = self._clock()
            token = self._leases.acquire(name)
            if token is not None:
                self._take(name, token, acquired_at)

    def _preference(self, name: str) -> bytes:
        """Each process tries the feeds in an order of its own, so they don't all reach for the same one."""
        return hashlib.blake2b(f"{self._run}:{name}".encode(), digest_size=4).digest()

    def _take(self, name: str, token: int, acquired_at: float) -> None:
        self._free_since.pop(name, None)
        self._aggregator.take_over(name, token)
        if not self._aggregator.fence(name, self._settings.claim_timeout):
            log.warning("feed not taken: the minute store holds a newer fencing token", extra={"exchange": name})
            with contextlib.suppress(StorageUnavailable):
                self._leases.release(name)
            return
        # Counted from before the lock was taken, as a renewal is: the claim may have taken a while.
        held = _Held(self._wanted[name], token, seconds_to_ms(time.time()), acquired_at + self._settings.trusted_for)
        held.renewed.set()
        self._held[name] = held
        log.info("feed taken", extra={"exchange": name})
        self._attach(name, held)

    def _attach(self, name: str, held: _Held) -> None:
        self._pipeline.attach(held.source, admit=lambda: self._admit(held))

    def _admit(self, held: _Held) -> None:
        """Hold a read back while the lease is not known to be ours (a process woken past its TTL)."""
        if self._clock() < held.valid_until:
            return
        held.renewed.clear()
        self._wake.set()
        held.renewed.wait()

    def _lose(self, name: str, why: str) -> None:
        if name not in self._held:
            return
        self._release(name)
        log.warning("feed lost: stopped reading it", extra={"exchange": name, "reason": why})

    def feed_fenced(self, name: str, lease: int) -> None:
        """The store refused rows of ``name`` read under ``lease``: a newer token claimed the feed (the
        aggregator's ``FenceListener``)."""
        with self._lock:
            held = self._held.get(name)
            if held is not None and held.token <= lease:  # not merely our own rows from before we took it back
                self._lose(name, "the minute store holds a newer fencing token")

    def _release(self, name: str) -> None:
        self._held.pop(name, None)
        self._pipeline.detach(name)
        with contextlib.suppress(StorageUnavailable):  # it lapses by itself
            self._leases.release(name)
