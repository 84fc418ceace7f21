"""Ingestion: the sources and the decode workers, fan-in to one bounded queue, fan-out to the results queue.

    sources --(emit)--> ingest queue --> N decode workers --> results queue

Owns one greenlet per attached source and ``workers`` long-lived decode
greenlets. A source waits up to ``ingest_put_timeout`` for room in the
ingest queue (pushing back on TCP senders); after that the read is dropped
and counted in ``ingest_dropped``. A line or trade that can't become a tick
is counted per source and reason and skipped, never fatal. A trade whose id
was seen lately (a replay, an overlap, a backfill) is dropped and counted in
its source's ``duplicates``.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import gevent
from gevent.queue import Full, Queue

from app.application.backoff import Backoff
from app.application.pipeline_stats import PipelineStats
from app.application.ports.feeds import FeedSource
from app.application.source_status import SourceStatus
from app.application.throttled_log import ThrottledLog
from app.domain.errors import InvalidTick
from app.domain.seen_trades import SeenTrades
from app.domain.tick import Tick
from app.domain.time_grid import seconds_to_ms
from app.domain.validation import make_tick

log = logging.getLogger(__name__)
# A crashed source is run again after a jittered backoff from this up to the cap (reset once a run lasts the cap).
RESTART_INITIAL_SECONDS = 1.0
RESTART_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class IngestSettings:
    workers: int
    queue_size: int
    put_timeout: float
    max_price: float


@dataclass
class _Read:
    source: FeedSource
    status: SourceStatus
    lines: list[bytes]
    received: float


class LeaseTokens(Protocol):
    """The fencing token of the lease each feed is read under (the minute aggregator's): ticks carry it."""

    def lease(self, feed: str) -> int: ...


class AttachListener(Protocol):
    """Told before a feed's first read here and once it is no longer read (the cache writer marks it)."""

    def feed_attached(self, feed: str) -> None: ...

    def feed_detached(self, feed: str) -> None: ...


class Ingestion:
    def __init__(
        self,
        settings: IngestSettings,
        results: Queue,
        stats: PipelineStats,
        leases: LeaseTokens,
        attachments: AttachListener,
    ) -> None:
        self._settings = settings
        self._queue: Queue = Queue(settings.queue_size)
        self._results = results
        self._stats = stats
        self._leases = leases
        self._attachments = attachments
        self._workers: list[gevent.Greenlet] = []
        self._sources: dict[str, tuple[FeedSource, SourceStatus, gevent.Greenlet]] = {}
        self.statuses: dict[str, SourceStatus] = {}
        self._rejects = ThrottledLog(log)
        # Trade ids seen lately, per (exchange, symbol): a trade that comes again is dropped and counted.
        self._seen = SeenTrades()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if not self._workers:
            self._workers = [gevent.spawn(self._decode_loop) for _ in range(self._settings.workers)]

    def stop(self, timeout: float) -> None:
        """Stop every source, then let the workers decode what is queued and end (those still at it after
        ``timeout`` are killed: nothing of this process may run on past its shutdown)."""
        for name in list(self._sources):
            self.detach(name)
        for _ in self._workers:
            self._queue.put(None)
        gevent.joinall(self._workers, timeout=timeout)
        gevent.killall(self._workers)
        self._workers = []

    # -- sources ---------------------------------------------------------

    def attach(self, source: FeedSource, admit: Callable[[], None]) -> None:
        if source.name in self._sources:
            return
        status = self.statuses.get(source.name) or SourceStatus(source.name)
        self.statuses[source.name] = status
        status.connecting()
        self._attachments.feed_attached(source.name)
        greenlet = gevent.spawn(self._run_source, source, self._emitter(source, status, admit), status)
        self._sources[source.name] = (source, status, greenlet)

    def detach(self, name: str, timeout: float = 5.0) -> None:
        """Stop a source; what it already emitted stays queued and is processed."""
        entry = self._sources.pop(name, None)
        if entry is None:
            return
        _, status, greenlet = entry
        greenlet.kill(timeout=timeout)
        status.stopped()
        self._attachments.feed_detached(name)

    def attached(self) -> list[str]:
        return list(self._sources)

    def _run_source(self, source: FeedSource, emit: Callable[[list[bytes]], None], status: SourceStatus) -> None:
        """Run the source for as long as it is attached: one that crashes (a bug: its own loop retries what the
        network does) is shown ``failed`` and run again after a backoff, so its lease never holds a dead feed."""
        backoff = Backoff(RESTART_INITIAL_SECONDS, RESTART_MAX_SECONDS, stable_after=RESTART_MAX_SECONDS)
        while True:
            started = time.monotonic()
            try:
                source.run(emit, status)
                return
            except gevent.GreenletExit:
                raise
            except Exception as exc:  # a source bug must not take the pipeline down
                status.failed(f"{type(exc).__name__}: {exc}")
                log.exception("source crashed: running it again", extra={"exchange": source.name})
            backoff.connection_ended(time.monotonic() - started)
            gevent.sleep(backoff.next_delay())
            status.stopped()  # the crashed run's connections are gone: none of them may linger in /health
            status.connecting()

    def _emitter(
        self, source: FeedSource, status: SourceStatus, admit: Callable[[], None]
    ) -> Callable[[list[bytes]], None]:
        put = self._queue.put
        timeout = self._settings.put_timeout
        stats = self._stats

        def emit(lines: list[bytes]) -> None:
            admit()
            status.received(len(lines), time.time())
            stats.received += len(lines)
            try:
                put(_Read(source, status, lines, time.monotonic()), timeout=timeout)
            except Full:
                stats.ingest_dropped += len(lines)
                self._rejects.warning(("drop", source.name), "ingest queue full, read dropped", exchange=source.name)

        return emit

    # -- workers ---------------------------------------------------------

    def _decode_loop(self) -> None:
        get, put, max_price = self._queue.get, self._results.put, self._settings.max_price
        first_time = self._seen.first_time
        while True:
            read = get()
            if read is None:
                return
            source, status = read.source, read.status
            now_ms = seconds_to_ms(time.time())
            feed = source.name
            lease = self._leases.lease(feed)
            ticks: list[Tick] = []
            for raw in read.lines:
                try:
                    for decoded in source.decode(raw):
                        if isinstance(decoded, InvalidTick):
                            self._reject(status, decoded.reason, decoded)
                            continue
                        try:
                            tick = make_tick(source.exchange, *decoded, source.symbols, now_ms, max_price)
                        except InvalidTick as exc:
                            self._reject(status, exc.reason, exc)
                            continue
                        if tick.trade_id is None or first_time(tick.exchange, tick.symbol, tick.trade_id, tick.ts_ms):
                            tick.lease, tick.feed = lease, feed
                            ticks.append(tick)
                        else:
                            status.duplicate()
                except InvalidTick as exc:
                    self._reject(status, exc.reason, exc)
                except Exception as exc:  # a decoder bug is counted, never fatal
                    self._reject(status, "decoder_error", exc)
            if ticks:
                self._stats.ticks += len(ticks)
                status.decoded(len(ticks))
                put((ticks, read.received))
            gevent.sleep(0)

    def _reject(self, status: SourceStatus, reason: str, exc: Exception) -> None:
        self._stats.rejected += 1
        status.rejected(reason)
        self._rejects.warning(
            (status.name, reason), "feed message skipped", exchange=status.name, reason=reason, error=str(exc)[:200]
        )
