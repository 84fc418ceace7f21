"""The ingest pipeline: fan-in, a worker pool, fan-in again to batched writers.

    ingestion: sources --(emit)--> ingest queue --> N decode workers --> results queue
    collector: results --> memory window, minute aggregator, observers, batching --> cache queue
    cache writer: cache queue --> Redis
    minute cadence: claims, seals and flushes the aggregator's minutes to PostgreSQL

Each part owns its greenlets (``Ingestion``, ``TickCollector``,
``CacheWriter``, ``MinuteCadence``) and is built by the composition root;
the pipeline keeps the order they start in and the order they drain in on
``stop``, and is what the rest of the process sees of them.

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

import time
from collections.abc import Callable

from gevent.queue import Queue

from app.application.cache_writer import CacheWriter
from app.application.ingestion import Ingestion
from app.application.minute_cadence import MinuteCadence
from app.application.pipeline_stats import PipelineStats
from app.application.ports.feeds import FeedSource
from app.application.process_report import Drops, PipelineReport
from app.application.tick_collector import TickCollector, TickObserver
from app.domain.feed_snapshot import SourceSnapshot
from app.domain.pair_state import PairState


class Pipeline:
    def __init__(
        self,
        ingestion: Ingestion,
        results: Queue,
        collector: TickCollector,
        cache_queue: Queue,
        cache_writer: CacheWriter,
        cadence: MinuteCadence,
        stats: PipelineStats,
    ) -> None:
        self._ingestion = ingestion
        self._results = results
        self._collector = collector
        self._cache_queue = cache_queue
        self._cache_writer = cache_writer
        self._cadence = cadence
        self.stats = stats
        self._started = False

    @property
    def running(self) -> bool:
        return self._collector.running

    @property
    def cache_consistent(self) -> bool:
        """Whether the cache holds the whole window of the feeds this process reads."""
        return self._cache_writer.consistent

    def report(self) -> PipelineReport:
        stats = self.stats
        return PipelineReport(
            running=self.running,
            queues={
                "ingest": self._ingestion.depth,
                "results": self._results.qsize(),
                "cache": self._cache_queue.qsize(),
            },
            received=stats.received,
            ticks=stats.ticks,
            cached=stats.cached,
            rejected=stats.rejected,
            drops=Drops(ingest=stats.ingest_dropped, cache_write_failed=stats.cache_failed),
            cache_consistent=self.cache_consistent,
            cache_restored=stats.cache_restored,
            cache_lost=stats.cache_lost,
            tick_to_cache_latency=stats.latency_summary(),
        )

    def sources(self) -> dict[str, SourceSnapshot]:
        """Every feed this process has read, as of now."""
        return {name: status.snapshot() for name, status in self._ingestion.statuses.items()}

    def pair_changes(self) -> dict[str, dict[str, PairState]]:
        """Per feed read here now, its pairs whose state changed since the last call (the pair catalogue's)."""
        statuses = self._ingestion.statuses
        return {name: changed for name in self.attached() if (changed := statuses[name].changed_pairs())}

    def observe(self, *observers: TickObserver) -> None:
        """Show every batch of decoded ticks, in order, to these too (connected by the composition root)."""
        self._collector.observers.extend(observers)

    def start(self) -> None:
        """Downstream first, so nothing produced waits for a consumer that has not started."""
        if self.running:
            return
        self._started = True
        self._cadence.start()
        self._cache_writer.start()
        self._collector.start()
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

    def stop(self, timeout: float = 10.0) -> None:
        """Drain in order: sources and decoders, the collector, the cache writer, then every minute is sealed
        and flushed, the open one too."""
        if not self._started:
            self._ingestion.stop(0.1)
            return
        self._started = False
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.1, deadline - time.monotonic())

        self._ingestion.stop(left())
        self._collector.stop(left)
        self._cache_writer.join(left())
        self._cadence.stop()
