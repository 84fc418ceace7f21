"""Exact per-minute min/mean/max, open/close, volume and VWAP, computed from the tick stream in memory.

Buckets are sealed together: when a minute is ``grace_ms`` past its end, and
at every checkpoint, every open bucket (the unfinished minute too, as a
delta) becomes one ``MinuteBatch`` with its own id, which goes to the
durable spool before anything else. The store merges deltas into rows and
ignores a batch id it has seen, so a retried write never double counts and a
crash after sealing loses nothing.

A bucket holds the ticks of one lease (each tick carries its feed's fencing
token), a batch carries those tokens (``fences``) and its last ``seq``, and a
feed taken over is claimed, then its predecessor's unsealed ticks replayed
from the cache (``claim_pending``): the rules that make a handover lose and
double nothing are written once, in docs/design.md, "Fencing" and "Handover".
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol

from gevent.lock import Semaphore

from app.application.ports.storage import (
    BatchRejected,
    BatchSpool,
    FeedFenced,
    MinuteStore,
    StorageUnavailable,
    TickCache,
)
from app.domain.minutes import AggregatorSnapshot, MinuteBatch, MinuteRow
from app.domain.stats import PriceStats
from app.domain.tick import Tick, minute_start
from app.domain.time_grid import MS_PER_MINUTE, seconds_to_ms

log = logging.getLogger(__name__)

# (feed, exchange, symbol, minute start, lease)
BucketKey = tuple[str, str, str, int, int]


class FenceListener(Protocol):
    """Hears that the store refused rows of ``feed`` read under ``lease``: a newer token claimed the feed."""

    def feed_fenced(self, feed: str, lease: int) -> None: ...


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
        self._last_seq = 0
        # Per feed, the token of this process's latest lease on it (kept after a release: ticks still in flight
        # are read under it).
        self._leases: dict[str, int] = {}
        # Feeds taken over but not yet claimed in the store (or whose predecessor's ticks are not yet replayed).
        self._unclaimed: dict[str, int] = {}
        self._claiming = Semaphore()
        # Told of a feed whose rows the store refused (connected by the composition root).
        self.fence_listener: FenceListener | None = None
        self.rows_written = 0
        self.rows_fenced = 0
        self.ticks_replayed = 0

    def lease(self, feed: str) -> int:
        """The token of this process's latest lease on ``feed`` (0: never held): what its ticks are read under."""
        return self._leases.get(feed, 0)

    def add(self, ticks: list[Tick]) -> None:
        """Count ticks of this process, in ``seq`` order."""
        if ticks:
            self._bucket(ticks)
            self._last_seq = ticks[-1].seq

    def _bucket(self, ticks: Iterable[Tick]) -> None:
        _add(self._open, ticks)

    def snapshot(self) -> AggregatorSnapshot:
        return AggregatorSnapshot(
            open_minutes=self.open_buckets,
            unsent_batches=self.unsent_batches,
            rows_written=self.rows_written,
            rows_fenced=self.rows_fenced,
            batches_dropped=self.batches_dropped,
            batches_set_aside=self.batches_set_aside,
            ticks_replayed=self.ticks_replayed,
        )

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

    def take_over(self, feed: str, token: int) -> None:
        """Read ``feed`` under a new lease; ``claim_pending`` claims it before any of its new rows is written."""
        self._leases[feed] = token
        self._unclaimed[feed] = token

    def fence(self, feed: str, timeout: float) -> bool:
        """Claim a feed just taken over, before its first read, so a stale owner's rows are refused from now.

        False: a newer token holds it (don't read it). The store being down,
        or slower than ``timeout``, is no reason to wait: ``claim_pending``
        claims it again later anyway.
        """
        token = self._unclaimed[feed]
        try:
            self._store.claim(feed, token, timeout)
        except StorageUnavailable:
            return True
        except FeedFenced:
            self._claimed(feed, token)
            return False
        return True

    def _claimed(self, feed: str, token: int) -> None:
        """Done with the claim of ``token``; one of a lease taken since (the feed lost and taken back) stays."""
        if self._unclaimed.get(feed) == token:
            del self._unclaimed[feed]

    def claim_pending(self, cache: TickCache) -> bool:
        """Claim each feed taken over, and store at once what its previous owner left unsealed.

        The claim fences the feed without moving its seal mark; the replayed
        ticks are then written in one batch (its id fixed by the new lease, so
        a retry is a no-op) that moves the mark to the new lease. A crash in
        between leaves the old mark and adds this lease to the claims, so the
        next owner replays the same ticks and this process's: nothing is lost
        or counted twice. Returns False while the
        store or the cache does not answer (call again); the rows of an
        unclaimed feed wait in the spool meanwhile. A feed a newer token
        holds is given up (``fence_listener``).
        """
        if self._claiming.locked():
            return False
        with self._claiming:
            for feed, token in list(self._unclaimed.items()):
                try:
                    if not self._claim(feed, token, cache):
                        return False
                except FeedFenced:
                    self._fenced(feed, token)
                self._claimed(feed, token)
            return True

    def _claim(self, feed: str, token: int, cache: TickCache) -> bool:
        try:
            marks = self._store.claim(feed, token)
            if not marks:
                return True
            ticks = cache.ticks_after(feed, marks)
            replay = _as_rows(_add({}, ticks, (feed, token)))
            fenced = self._store.write(MinuteBatch(f"replay:{feed}:{token:x}", replay, 0, {feed: token}))
        except StorageUnavailable:
            return False
        if fenced:
            raise FeedFenced(feed)
        self.ticks_replayed += len(ticks)
        self.rows_written += len(replay)
        log.info("stored the previous owner's unsealed ticks", extra={"exchange": feed, "ticks": len(ticks)})
        return True

    def close_due(self) -> None:
        """Seal once a minute has been over for ``grace_ms``."""
        limit = seconds_to_ms(self._clock()) - self._grace_ms - MS_PER_MINUTE
        if any(key[3] <= limit for key in self._open):
            self.close_all()

    def close_all(self) -> None:
        """Seal every bucket, the unfinished minute too (checkpoints and shutdown).

        One batch, unless a feed has buckets of two leases (it was taken back
        meanwhile): each batch holds one lease per feed.
        """
        # Each group with the lease of each feed in it: linear in the open minutes (thousands at market width).
        groups: list[tuple[dict[str, int], dict[BucketKey, PriceStats]]] = []
        for key, stats in self._open.items():
            feed, lease = key[0], key[4]
            for leases, group in groups:
                if leases.setdefault(feed, lease) == lease:
                    group[key] = stats
                    break
            else:
                groups.append(({feed: lease}, {key: stats}))
        self._open = {}
        for _, group in groups:
            fences = {key[0]: key[4] for key in group}
            self._spool.append(MinuteBatch(uuid.uuid4().hex, _as_rows(group), self._last_seq, fences))

    def flush(self) -> bool:
        """Write spooled batches in order; False if the store is unavailable.

        A batch the store refuses for what it holds is set aside (dead-letter
        file): retrying it forever would block every batch after it. A batch
        with rows of a feed not yet claimed waits, and so do those after it.
        """
        for batch in self._spool.pending():
            if any(self._unclaimed.get(feed) == lease for feed, lease in batch.fences.items()):
                return False
            try:
                fenced = self._store.write(batch)
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
            refused = sum(1 for row in batch.rows if row.feed in fenced)
            self.rows_written += len(batch.rows) - refused
            self.rows_fenced += refused
            for feed in fenced:
                log.warning("rows refused: another process holds the feed now", extra={"exchange": feed})
                self._fenced(feed, batch.fences.get(feed, 0))
        return True

    def _fenced(self, feed: str, lease: int) -> None:
        if self.fence_listener is not None:
            self.fence_listener.feed_fenced(feed, lease)


def _add(
    buckets: dict[BucketKey, PriceStats], ticks: Iterable[Tick], replay: tuple[str, int] | None = None
) -> dict[BucketKey, PriceStats]:
    """Ticks into their minute buckets, under their own feed and lease (or ``replay``'s: the feed and lease a
    replay is stored under, the new one)."""
    for tick in ticks:
        ts = tick.ts_ms
        feed, lease = (tick.feed, tick.lease) if replay is None else replay
        key = (feed, tick.exchange, tick.symbol, minute_start(ts), lease)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = PriceStats()
        bucket.add(tick.exchange, tick.price, ts, tick.quantity)
    return buckets


def _as_rows(buckets: dict[BucketKey, PriceStats]) -> tuple[MinuteRow, ...]:
    return tuple(
        MinuteRow.of(feed, exchange, symbol, minute, stats)
        for (feed, exchange, symbol, minute, _), stats in buckets.items()
    )
