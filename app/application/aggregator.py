"""Exact per-minute min/mean/max, computed from the tick stream in memory.

A minute is sealed ``grace_ms`` after it ends (late ticks of a sealed
minute open a fresh delta bucket). Sealed buckets become a ``MinuteBatch``
with its own id, which goes to the durable spool before anything else; the
store merges deltas into rows and ignores a batch id it has seen, so a
retried write never double counts, a crash after sealing loses nothing, and
a restart that flushed a partial minute simply adds the rest later.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable

from app.application.ports import BatchSpool, MinuteBatch, MinuteRow, MinuteStore, StorageUnavailable
from app.domain.stats import PriceStats
from app.domain.tick import MS_PER_MINUTE, Tick

log = logging.getLogger(__name__)

BucketKey = tuple[str, str, int]


class MinuteAggregator:
    def __init__(
        self,
        store: MinuteStore,
        spool: BatchSpool,
        grace_ms: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._spool = spool
        self._grace_ms = grace_ms
        self._clock = clock
        self._open: dict[BucketKey, PriceStats] = {}
        self.rows_written = 0

    def add(self, ticks: Iterable[Tick]) -> None:
        buckets = self._open
        for tick in ticks:
            ts = tick.ts_ms
            key = (tick.exchange, tick.symbol, ts - ts % MS_PER_MINUTE)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = PriceStats()
            bucket.add(tick.exchange, tick.price, ts)

    @property
    def open_buckets(self) -> int:
        return len(self._open)

    @property
    def unsent_batches(self) -> int:
        return len(self._spool.pending())

    @property
    def batches_dropped(self) -> int:
        return self._spool.dropped

    def close_due(self) -> None:
        """Seal every minute that ended at least ``grace_ms`` ago."""
        limit = int(self._clock() * 1000) - self._grace_ms - MS_PER_MINUTE
        self._seal([key for key in self._open if key[2] <= limit])

    def close_all(self) -> None:
        """Seal every bucket, the unfinished minute too (used at shutdown)."""
        self._seal(list(self._open))

    def _seal(self, keys: list[BucketKey]) -> None:
        if not keys:
            return
        rows = []
        for key in keys:
            stats = self._open.pop(key)
            exchange, symbol, minute = key
            rows.append(MinuteRow(exchange, symbol, minute, stats.count, stats.mean, stats.low, stats.high))
        self._spool.append(MinuteBatch(uuid.uuid4().hex, tuple(rows)))

    def flush(self) -> bool:
        """Write spooled batches in order; False if the store is unavailable."""
        for batch in self._spool.pending():
            try:
                self._store.write(batch)
            except StorageUnavailable as exc:
                log.warning("minute store unavailable, batches stay spooled", extra={"error": str(exc)})
                return False
            self._spool.ack(batch.batch_id)
            self.rows_written += len(batch.rows)
        return True
