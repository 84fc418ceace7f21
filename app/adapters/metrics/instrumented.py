"""The cache and store ports, timed: batch sizes and write latencies per backend.

Decorators around the real adapters, so neither the application nor the
adapters know that anything is being measured.
"""

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Histogram

from app.application.ports.storage import MinuteStore, TickCache
from app.domain.buckets import CacheBatch
from app.domain.minutes import MinuteBatch, SealMark
from app.domain.missed_trades import TradeMark
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.rollup import StoredRange
from app.domain.stats import PriceStats
from app.domain.tick import Tick

SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WriteMetrics:
    """This process's writes, in its own registry (never served): its report carries them
    (``LocalFamilies``), so a scrape answered by any worker of the host shows every process's writes, each under
    its ``process``, rather than only the answering worker's."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.size = Histogram(
            "marketflow_write_batch_size",
            "Items per write batch",
            ["backend"],
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.seconds = Histogram(
            "marketflow_write_seconds",
            "Time per write batch, failed writes included",
            ["backend", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    @contextmanager
    def timed(self, backend: str, items: int) -> Iterator[None]:
        """Count a batch of ``items`` written to ``backend`` and time the write in the ``with`` block.

        A write that raises is timed as ``failed`` (the error still goes on):
        a backend that fails slowly shows as slow, not as missing writes.
        """
        started, ok = time.perf_counter(), False
        try:
            yield
            ok = True
        finally:
            self.size.labels(backend).observe(items)
            self.seconds.labels(backend, "ok" if ok else "failed").observe(time.perf_counter() - started)


class MeasuredCache:
    def __init__(self, inner: TickCache, metrics: WriteMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def write(self, batch: CacheBatch) -> bool:
        with self._metrics.timed("redis", len(batch.ticks)):
            return self._inner.write(batch)

    def mark(self, since_ms: int, exchanges: Sequence[str]) -> None:
        self._inner.mark(since_ms, exchanges)

    def latest(self, symbol: str, exchanges: Sequence[str]) -> tuple[list[LatestPrice], tuple[str, ...]]:
        return self._inner.latest(symbol, exchanges)

    def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]:
        return self._inner.last_trades(exchange, symbols, since_ms)

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        return self._inner.window(symbol, exchanges, after_ms, to_ms)

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        return self._inner.buckets(symbol, exchanges, grain_ms, from_ms, to_ms)

    def ticks_after(self, feed: str, marks: Sequence[SealMark]) -> list[Tick]:
        return self._inner.ticks_after(feed, marks)

    def ping(self) -> float:
        return self._inner.ping()


class MeasuredStore:
    def __init__(self, inner: MinuteStore, metrics: WriteMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def write(self, batch: MinuteBatch) -> list[str]:
        with self._metrics.timed("postgres", len(batch.rows)):
            return self._inner.write(batch)

    def claim(self, feed: str, token: int, timeout: float | None = None) -> list[SealMark]:
        return self._inner.claim(feed, token, timeout)

    def summarize(self, symbol: str, exchanges: Sequence[str], ranges: Sequence[StoredRange]) -> PriceStats:
        return self._inner.summarize(symbol, exchanges, ranges)

    def candles(
        self, symbol: str, exchanges: Sequence[str], interval_ms: int, ranges: Sequence[StoredRange]
    ) -> list[tuple[int, PriceStats]]:
        return self._inner.candles(symbol, exchanges, interval_ms, ranges)

    def ping(self) -> float:
        return self._inner.ping()
