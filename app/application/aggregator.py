"""Exact per-minute min/mean/max, open/close, volume and VWAP, computed from the tick stream in memory.

Buckets are sealed together: when a minute is ``grace_ms`` past its end, and
at every checkpoint, every open bucket (the unfinished minute too, as a
delta) becomes one ``MinuteBatch`` with its own id, which goes to the
durable spool before anything else. The store merges deltas into rows and
ignores a batch id it has seen, so a retried write never double counts and a
crash after sealing loses nothing.

Sealing everything at once means a single ``SealMark`` (this process, the
last tick's ``seq``) says exactly which ticks the batches hold. After a
``kill -9`` the next process reads the dead one's mark from the spool and
replays that process's newer ticks from the cache, so the ticks received
since the last seal are not lost and none is counted twice.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable

from app.application.ports import (
    BatchRejected,
    BatchSpool,
    MinuteBatch,
    MinuteRow,
    MinuteStore,
    SealMark,
    StorageUnavailable,
    TickCache,
)
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
        run: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._spool = spool
        self._grace_ms = grace_ms
        self._run = run
        self._clock = clock
        self._open: dict[BucketKey, PriceStats] = {}
        self._last_seq = 0
        self._replayed = False
        # The mark an earlier process left, read before this one seals anything (see ``replay``).
        self._predecessor: SealMark | None = None
        self.rows_written = 0
        self.ticks_replayed = 0

    def add(self, ticks: list[Tick]) -> None:
        """Count ticks of this process, in ``seq`` order."""
        if ticks:
            self._bucket(ticks)
            self._last_seq = ticks[-1].seq

    def _bucket(self, ticks: Iterable[Tick]) -> None:
        buckets = self._open
        for tick in ticks:
            ts = tick.ts_ms
            key = (tick.exchange, tick.symbol, ts - ts % MS_PER_MINUTE)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = PriceStats()
            bucket.add(tick.exchange, tick.price, ts, tick.quantity)

    @property
    def open_buckets(self) -> int:
        return len(self._open)

    @property
    def unsent_batches(self) -> int:
        return len(self._spool.pending())

    @property
    def batches_dropped(self) -> int:
        return self._spool.dropped

    @property
    def batches_set_aside(self) -> int:
        return self._spool.set_aside_count

    def replay(self, cache: TickCache) -> bool:
        """Count the ticks a crashed process had cached but not sealed; once, when the cache answers.

        Then this process's own mark goes to disk (sealing what was replayed),
        so even a crash before its first minute closes can be replayed.
        Until then the earlier mark stays on disk, unless a seal replaces it.
        Returns whether that is done (False: the cache is down, call again).
        """
        if self._replayed:
            return True
        predecessor = self._remember_predecessor()
        if predecessor.run != self._run:
            try:
                ticks = cache.ticks_after(predecessor)
            except StorageUnavailable:
                return False
            self._bucket(ticks)
            self.ticks_replayed = len(ticks)
            log.info("replayed the ticks a crashed process had not sealed", extra={"ticks": len(ticks)})
        self._replayed = True
        if self._open:
            self.close_all()
        else:
            self._spool.keep_mark(SealMark(self._run, self._last_seq))
        return True

    def _remember_predecessor(self) -> SealMark:
        """The spool's mark before this process's first seal replaces it."""
        if self._predecessor is None:
            self._predecessor = self._spool.mark or SealMark(self._run, 0)
        return self._predecessor

    def close_due(self) -> None:
        """Seal once a minute has been over for ``grace_ms``."""
        limit = int(self._clock() * 1000) - self._grace_ms - MS_PER_MINUTE
        if any(key[2] <= limit for key in self._open):
            self.close_all()

    def close_all(self) -> None:
        """Seal every bucket, the unfinished minute too (checkpoints and shutdown)."""
        if not self._open:
            return
        self._remember_predecessor()
        rows = [
            MinuteRow.of(exchange, symbol, minute, stats) for (exchange, symbol, minute), stats in self._open.items()
        ]
        self._open = {}
        self._spool.append(MinuteBatch(uuid.uuid4().hex, tuple(rows), SealMark(self._run, self._last_seq)))

    def flush(self) -> bool:
        """Write spooled batches in order; False if the store is unavailable.

        A batch the store refuses for what it holds is set aside (dead-letter
        file): retrying it forever would block every batch after it.
        """
        for batch in self._spool.pending():
            try:
                self._store.write(batch)
            except StorageUnavailable as exc:
                log.warning("minute store unavailable, batches stay spooled", extra={"error": str(exc)})
                return False
            except BatchRejected as exc:
                log.error(
                    "minute batch refused by the store: set aside", extra={"batch": batch.batch_id, "error": str(exc)}
                )
                self._spool.set_aside(batch, str(exc))
                continue
            self._spool.ack(batch.batch_id)
            self.rows_written += len(batch.rows)
        return True
