"""The ingest pipeline: fan-in, a worker pool, fan-in again to batched writers.

    ingestion: sources --(emit)--> ingest queue --> N decode workers --> results queue
    collector: results --> memory window, minute aggregator, observers, batching --> cache queue
    cache writer: cache queue --> Redis
    minute cadence: claims, seals and flushes the aggregator's minutes to PostgreSQL

Each part owns its greenlets (``Ingestion``, ``CacheWriter``,
``MinuteCadence``; the collector is the pipeline's own). The pipeline keeps
the order they start in and the order they drain in on ``stop``.

Overflow policy, per queue:
- ingest queue (bounded, in raw reads): a source waits up to
  ``ingest_put_timeout`` for room, which pushes back on TCP senders; after
  that the read is dropped and counted in ``ingest_dropped``.
- results and cache queues (bounded): producers wait. They sit behind the
  ingest queue, so pressure there lands on the one policy above.
- a trade whose id was seen lately (a replay, an overlap, a backfill) is
  dropped in the decode workers and counted in its source's ``duplicates``.
- cache writes that fail are counted in ``cache_failed`` and written back
  later (see ``CacheWriter``); the memory window keeps queries complete.
"""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent.queue import Empty, Full, Queue

from app.application.aggregator import MinuteAggregator
from app.application.cache_writer import CacheWriter
from app.application.ingestion import Ingestion, IngestSettings
from app.application.minute_cadence import MinuteCadence
from app.application.pipeline_stats import PipelineStats
from app.application.ports.feeds import FeedSource
from app.application.ports.storage import TickCache
from app.application.recent_window import RecentWindow
from app.application.source_status import SourceSnapshot
from app.domain.tick import Tick


@dataclass(frozen=True)
class PipelineSettings:
    workers: int
    ingest_queue_size: int
    ingest_put_timeout: float
    result_queue_size: int
    cache_batch_size: int
    cache_batch_interval: float
    cache_queue_size: int
    aggregate_interval: float
    checkpoint_interval: float
    max_price: float


@dataclass(frozen=True)
class PipelineSnapshot:
    """The pipeline at one moment, as /health, the heartbeat and /metrics show it."""

    running: bool
    queues: dict[str, int]
    received: int
    ticks: int
    cached: int
    rejected: int
    ingest_dropped: int
    cache_failed: int
    cache_consistent: bool
    cache_restored: int
    cache_lost: int
    # Read to queryable in the cache, recent: ``p50_ms`` and ``p99_ms`` (None before any sample).
    tick_to_cache_latency: dict[str, float | None]
    sources: dict[str, SourceSnapshot]


_FLUSH = object()


class Pipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        symbols: frozenset[str],
        cache: TickCache,
        window: RecentWindow,
        aggregator: MinuteAggregator,
    ) -> None:
        self.settings = settings
        self._window = window
        self._aggregator = aggregator
        self.stats = PipelineStats()
        self._results: Queue = Queue(settings.result_queue_size)
        self._cache_queue: Queue = Queue(settings.cache_queue_size)
        self._collector: gevent.Greenlet | None = None
        self._seq = 0
        # Called with every decoded batch of ticks, in order (e.g. the WebSocket price stream).
        self.observers: list[Callable[[list[Tick]], None]] = []
        self._cache_writer = CacheWriter(
            cache, window, self._cache_queue, settings.cache_batch_size, self.stats, self.attached
        )
        ingest = IngestSettings(
            settings.workers, settings.ingest_queue_size, settings.ingest_put_timeout, settings.max_price
        )
        self._ingestion = Ingestion(
            ingest, symbols, self._results, self.stats, aggregator.lease, self._cache_writer.mark_feed
        )
        self._cadence = MinuteCadence(aggregator, cache, settings.aggregate_interval, settings.checkpoint_interval)

    @property
    def running(self) -> bool:
        return self._collector is not None and not self._collector.dead

    @property
    def cache_consistent(self) -> bool:
        return self._cache_writer.consistent

    def queue_depths(self) -> dict[str, int]:
        return {
            "ingest": self._ingestion.depth,
            "results": self._results.qsize(),
            "cache": self._cache_queue.qsize(),
        }

    def snapshot(self) -> PipelineSnapshot:
        stats = self.stats
        return PipelineSnapshot(
            running=self.running,
            queues=self.queue_depths(),
            received=stats.received,
            ticks=stats.ticks,
            cached=stats.cached,
            rejected=stats.rejected,
            ingest_dropped=stats.ingest_dropped,
            cache_failed=stats.cache_failed,
            cache_consistent=self.cache_consistent,
            cache_restored=stats.cache_restored,
            cache_lost=stats.cache_lost,
            tick_to_cache_latency=stats.latency_summary(),
            sources={name: status.snapshot() for name, status in self._ingestion.statuses.items()},
        )

    def start(self) -> None:
        """Downstream first, so nothing produced waits for a consumer that has not started."""
        if self.running:
            return
        self._cadence.start()
        self._cache_writer.start()
        self._collector = gevent.spawn(self._collect_loop)
        self._ingestion.start()

    def attach(self, source: FeedSource, admit: Callable[[], None] = lambda: None) -> None:
        """Start reading ``source``; ``admit`` is called before each read is queued and may hold it back
        (while this process's lease on the feed is unconfirmed)."""
        self._ingestion.attach(source, admit)

    def detach(self, name: str, timeout: float = 5.0) -> None:
        """Stop a source; what it already emitted stays queued and is processed."""
        self._ingestion.detach(name, timeout)

    def attached(self) -> list[str]:
        return self._ingestion.attached()

    def _collect_loop(self) -> None:
        settings = self.settings
        batch: list[Tick] = []
        marks: list[float] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if batch else None
            try:
                item = self._results.get(timeout=timeout)
            except Empty:
                item = _FLUSH
            if item is None:
                break
            if item is not _FLUSH:
                ticks, received = item
                seq = self._seq
                for tick in ticks:
                    seq += 1
                    tick.seq = seq
                self._seq = seq
                self._window.write(ticks)
                self._aggregator.add(ticks)
                for observer in self.observers:
                    observer(ticks)
                if not batch:
                    deadline = time.monotonic() + settings.cache_batch_interval
                batch.extend(ticks)
                marks.append(received)
                if len(batch) < settings.cache_batch_size:
                    continue
            if batch:
                self._cache_queue.put((batch, marks))
                batch, marks = [], []
        if batch:
            self._cache_queue.put((batch, marks))
        self._cache_queue.put(None)

    def stop(self, timeout: float = 10.0) -> None:
        """Drain in order: sources and decoders, the collector, the cache writer, then every minute is sealed
        and flushed, the open one too."""
        if self._collector is None:
            self._ingestion.stop(0.1)
            return
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.1, deadline - time.monotonic())

        self._ingestion.stop(left())
        with contextlib.suppress(Full):  # a collector that can't take it now is killed below
            self._results.put(None, timeout=left())
        self._collector.join(timeout=left())
        self._collector.kill()  # still at it past the deadline: what it has not taken is lost, never doubled
        self._cache_writer.join(left())
        self._cadence.stop()
        self._collector = None
