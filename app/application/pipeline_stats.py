"""Counters and latency samples of the pipeline, as /health reports them."""

from collections import deque
from dataclasses import dataclass, field

from app.application.process_report import Percentiles
from app.domain.percentile import percentiles
from app.domain.time_grid import MS_PER_SECOND


@dataclass
class PipelineStats:
    """Plain counters: the pipeline is one OS thread, so no locking is needed."""

    received: int = 0
    ticks: int = 0
    rejected: int = 0
    ingest_dropped: int = 0
    cached: int = 0
    cache_failed: int = 0
    cache_restored: int = 0
    # Times the cache was found to have lost this process's data (restarted empty).
    cache_lost: int = 0
    # Seconds from a raw read to the moment its ticks are queryable in the cache.
    cache_latency: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def latency_summary(self) -> Percentiles:
        samples = list(self.cache_latency)
        p50, p99 = percentiles(samples, 0.5, 0.99)
        return Percentiles(
            p50_ms=None if p50 is None else round(p50 * MS_PER_SECOND, 3),
            p99_ms=None if p99 is None else round(p99 * MS_PER_SECOND, 3),
        )
