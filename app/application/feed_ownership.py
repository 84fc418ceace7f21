"""Which feeds this process reads: a lease per feed, shared out across every process.

Every process (each gunicorn worker of each host) runs one of these. Each
``poll`` it renews the leases it holds and, while it holds fewer than its
fair share (``ceil(feeds / processes)``), takes feeds nobody holds; beyond
its share it lets the newest go. So each feed is read by exactly one
process, and a dead one's feeds move to the others within the lease TTL.

- **Taking a feed**: a feed must have been free for two polls first, so a
  live holder that just could not renew in time (Redis came back, a long
  pause) takes its own lease back before anyone else may. The new owner
  then claims it in the minute store with the lease's fencing token before
  reading a line (``MinuteAggregator.fence``): from then on the store
  refuses the old owner's rows. The ticks the old owner left unsealed are
  replayed from the cache by the aggregator's cadence, in the background
  (``MinuteAggregator.claim_pending``), so a long scan holds up no renewal.
- **Losing a feed** (another process holds the lease, or the store refused
  our rows for it): the source stops at once.
- **A paused process** (SIGSTOP, a long GC) may wake past its lease: no read
  is let through until the lease is renewed, or the feed is dropped.
- **Redis down**: leases can be neither renewed nor taken. The owner keeps
  reading and writing PostgreSQL (nobody else can take a feed meanwhile);
  when Redis is back it renews first (see above), and if another process
  did take the feed, the store's fence refuses this one's rows.
"""

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gevent.event import Event

from app.application.aggregator import MinuteAggregator
from app.application.owned_loop import OwnedLoop
from app.application.pipeline import Pipeline
from app.application.ports import FeedLeases, FeedSource, ProcessRegistry, StorageUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseSettings:
    ttl: float
    poll: float


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
        self._wake = Event()
        self._loop = OwnedLoop(self._run_forever)
        # How many processes share the feeds, as of the last heartbeat.
        self.processes = 1
        # What this process says about itself in its heartbeat (set by the composition root).
        self.summary: Callable[[], dict[str, object]] = dict
        aggregator.on_fenced = self._fenced

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

    def stop(self) -> None:
        """Stop reading and hand every lease back, so other processes take the feeds at once."""
        self._loop.stop()
        for name in list(self._held):
            self._release(name)
        with contextlib.suppress(StorageUnavailable):
            self._registry.leave()

    def want(self, sources: Sequence[FeedSource]) -> None:
        """Read these feeds (those this process wins) and no others: the current mode's."""
        self._wanted = {source.name: source for source in sources}
        for name in list(self._held):
            if name not in self._wanted:
                self._release(name)
        self._wake.set()

    def restart(self, names: Sequence[str] | None = None) -> None:
        """Reconnect the feeds held here (or those named), so new routing applies."""
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
        try:
            others = [p for p in self._registry.processes() if p.get("run") != self._run]
        except StorageUnavailable:
            self._keep_while_unreachable()
            return
        processes = self.processes = 1 + len(others)
        self._renew()
        share = math.ceil(len(self._wanted) / processes)
        while len(self._held) > share:
            newest = max(self._held, key=lambda name: self._held[name].since_ms)
            log.info("handing a feed over to share them out", extra={"exchange": newest, "processes": processes})
            self._release(newest)
        self._take_free(share)
        # After the changes, so every process's /health shows this cycle's owners.
        self._registry.heartbeat(self.summary())

    def _keep_while_unreachable(self) -> None:
        """Redis does not answer: nobody can take a feed, so the owner goes on reading.

        What was seen free before no longer counts: after the outage a feed must be seen free afresh.
        """
        self._free_since.clear()
        for held in self._held.values():
            held.valid_until = math.inf
            held.renewed.set()

    def _renew(self) -> None:
        for name, held in list(self._held.items()):
            try:
                kept = self._leases.renew(name)
            except StorageUnavailable:
                self._keep_while_unreachable()
                return
            if kept:
                held.valid_until = self._clock() + self._settings.ttl - self._settings.poll
                held.renewed.set()
            else:
                self._lose(name, "another process holds its lease")

    def _take_free(self, share: int) -> None:
        """Take free feeds up to the share; a feed counts as free once seen free on consecutive cycles."""
        free = [name for name in self._wanted if name not in self._held]
        holders = self._leases.holders(free)
        now = self._clock()
        for name in free:
            if holders.get(name) is None:
                self._free_since.setdefault(name, now)
            else:
                self._free_since.pop(name, None)
        for name in sorted(free, key=self._preference):
            if len(self._held) >= share:
                return
            if now - self._free_since.get(name, now) < 2 * self._settings.poll:
                continue
            token = self._leases.acquire(name)
            if token is not None:
                self._take(name, token)

    def _preference(self, name: str) -> bytes:
        """Each process tries the feeds in an order of its own, so they don't all reach for the same one."""
        return hashlib.blake2b(f"{self._run}:{name}".encode(), digest_size=4).digest()

    def _take(self, name: str, token: int) -> None:
        self._free_since.pop(name, None)
        self._aggregator.take_over(name, token)
        if not self._aggregator.fence(name):
            log.warning("feed not taken: the minute store holds a newer fencing token", extra={"exchange": name})
            with contextlib.suppress(StorageUnavailable):
                self._leases.release(name)
            return
        held = _Held(self._wanted[name], token, int(time.time() * 1000), self._clock() + self._settings.ttl)
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
        if self._held.pop(name, None) is None:
            return
        self._pipeline.detach(name)
        log.warning("feed lost: stopped reading it", extra={"exchange": name, "reason": why})

    def _fenced(self, name: str) -> None:
        if name in self._held:
            self._lose(name, "the minute store holds a newer fencing token")

    def _release(self, name: str) -> None:
        self._held.pop(name, None)
        self._pipeline.detach(name)
        with contextlib.suppress(StorageUnavailable):  # it lapses by itself
            self._leases.release(name)
