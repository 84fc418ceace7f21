"""Storage ports: the recent-window cache (Redis), the minute store (PostgreSQL), the spool before it."""

from collections.abc import Sequence
from typing import Protocol

from app.domain.buckets import CacheBatch
from app.domain.minutes import MinuteBatch, SealMark
from app.domain.missed_trades import TradeGap, TradeMark
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.retention import Upkeep
from app.domain.rollup import StoredRange
from app.domain.stats import PriceStats
from app.domain.tick import Tick


class StorageUnavailable(RuntimeError):
    """A backing store did not answer in time; callers degrade instead of failing."""


class BatchRejected(RuntimeError):
    """The store refused a batch for what it holds, not for being unreachable: retrying can't help."""


class FeedFenced(RuntimeError):
    """Another process took the feed over with a newer fencing token: this one must stop reading it."""


class Pingable(Protocol):
    """A dependency /health probes."""

    def ping(self) -> float:
        """Round trip in seconds; raises ``StorageUnavailable``."""
        ...


class TickCache(Pingable, Protocol):
    """Recent raw ticks, per-second and per-minute buckets and the latest price per (exchange, symbol)."""

    def write(self, batch: CacheBatch) -> bool:
        """Write a batch; False when the cache held no mark (see ``mark``) of a feed in it before it."""
        ...

    def mark(self, since_ms: int, exchanges: Sequence[str]) -> None:
        """Record that the cache holds these feeds' data, complete from ``since_ms`` on.

        Kept if already there: a cache that was only unreachable lost nothing.
        A cache that restarted empty loses the marks with everything else,
        which is how the feeds' owner and every reader notice.
        """
        ...

    def latest(self, symbol: str, exchanges: Sequence[str]) -> tuple[list[LatestPrice], tuple[str, ...]]:
        """The latest price per exchange, and the exchanges whose data the cache lost."""
        ...

    def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]:
        """Per symbol, the newest trade of ``exchange`` written, with its id, if no older than ``since_ms``: where a
        feed's next owner finds what was traded while nobody read it."""
        ...

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        """Per exchange, the stats of ticks with ``after_ms < ts <= to_ms``."""
        ...

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        """The buckets of one grain with ``from_ms <= start < to_ms``, exchanges merged."""
        ...

    def ticks_after(self, feed: str, marks: Sequence[SealMark]) -> list[Tick]:
        """The cached ticks of ``feed`` read under one of the marks' leases, with a higher ``seq`` than its."""
        ...


class MinuteStore(Pingable, Protocol):
    """Per-minute aggregates, merged idempotently by batch id, fenced per feed."""

    def write(self, batch: MinuteBatch) -> list[str]:
        """Merge a batch; returns the feeds whose rows were refused for a stale fencing token."""
        ...

    def claim(self, feed: str, token: int, timeout: float | None = None) -> list[SealMark]:
        """Fence the feed with ``token``; returns what no stored batch holds: the feed's mark, and every
        other lease that claimed it since (from its first tick).

        Raises ``FeedFenced`` when a newer token already holds it, and
        ``StorageUnavailable`` past ``timeout`` (None: the store's own call
        timeout; the lease loop must not wait longer than its leases last). The marks
        move only when a batch of the feed is stored (a batch with no rows
        too), which also clears the claims.
        """
        ...

    def summarize(self, symbol: str, exchanges: Sequence[str], ranges: Sequence[StoredRange]) -> PriceStats:
        """Count-weighted totals and extremes of the stored rows of ``ranges`` (``(grain, from, to)``: the rows
        of that grain with ``from <= start < to``).

        An extreme's timestamp is the start of the minute it was seen in.
        """
        ...

    def candles(
        self, symbol: str, exchanges: Sequence[str], interval_ms: int, ranges: Sequence[StoredRange]
    ) -> list[tuple[int, PriceStats]]:
        """The stored rows of ``ranges`` (grains dividing the interval, a whole number of minutes dividing a
        day) merged per interval, oldest first, as ``(interval start, stats)``; extremes carry the interval's
        start."""
        ...


class MarkableStore(MinuteStore, Protocol):
    """A minute store that can flag the rows a known trade gap touches as incomplete."""

    def mark_incomplete(self, gap: TradeGap) -> None: ...


class RetainingStore(MarkableStore, Protocol):
    """The minute store a process writes to: it also leaves rows older than their tier's retention out of a
    write, and counts them for ``/metrics``."""

    rows_past_retention: int


class StoredHistory(Protocol):
    """The partitions of stored history: kept ahead of the writes, dropped past retention."""

    def upkeep(self, now_ms: int) -> Upkeep:
        """Create the partitions of the days ahead and drop those past retention (the batch ledger's too), and
        remove the fencing rows of feeds that no longer exist: one process at a time (another one's round under
        way, this one only looks). Reports what it did and the oldest partition of each tier."""
        ...


class BatchSpool(Protocol):
    """Sealed minute batches, kept durably until the store has them.

    ``append`` returns only once the batch would survive a crash, so a
    sealed minute is never lost; ``ack`` marks a batch stored.
    """

    dropped: int
    set_aside_count: int

    def append(self, batch: MinuteBatch) -> None: ...

    def pending(self) -> list[MinuteBatch]: ...

    def ack(self, batch_id: str) -> None: ...

    def set_aside(self, batch: MinuteBatch, reason: str) -> None:
        """Move a batch the store refused to a dead-letter file (kept for a human), so the others go on."""
        ...
