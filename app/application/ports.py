"""The ports: what the application needs from the outside, as protocols.

Adapters implement these; unit tests implement them in memory.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.application.source_status import SourceStatus
from app.domain.errors import InvalidTick
from app.domain.stats import PriceStats, merge_at
from app.domain.tick import Tick
from app.domain.trade_gap import TradeGap


class StorageUnavailable(RuntimeError):
    """A backing store did not answer in time; callers degrade instead of failing."""


class BatchRejected(RuntimeError):
    """The store refused a batch for what it holds, not for being unreachable: retrying can't help."""


class CacheLost(StorageUnavailable):
    """The cache answers but no longer holds a feed's data (it restarted empty)."""


class FeedFenced(RuntimeError):
    """Another process took the feed over with a newer fencing token: this one must stop reading it."""


@dataclass(frozen=True, slots=True)
class LatestPrice:
    exchange: str
    price: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """One minute of one (exchange, symbol): the unit PostgreSQL stores.

    ``open``/``close`` carry the trade times they were seen at
    (``open_ms``/``close_ms``), so deltas of one minute merge into the exact
    open and close; ``volume`` and ``vwap`` are None when no tick carried a
    quantity. A row spooled by a version without them has them all None.
    """

    exchange: str
    symbol: str
    minute_ms: int
    count: int
    mean: float
    low: float
    high: float
    open: float | None = None
    open_ms: int | None = None
    close: float | None = None
    close_ms: int | None = None
    volume: float | None = None
    vwap: float | None = None

    @classmethod
    def of(cls, exchange: str, symbol: str, minute_ms: int, stats: PriceStats) -> "MinuteRow":
        """The row of a minute's aggregate (its extremes' times are not stored: the minute is their time)."""
        s = stats
        extremes = (s.count, s.mean, s.low, s.high)
        return cls(exchange, symbol, minute_ms, *extremes, s.first, s.first_ts, s.last, s.last_ts, s.volume, s.vwap)


@dataclass(frozen=True, slots=True)
class SealMark:
    """How far the stored minutes of a feed got: every tick read under ``lease`` with a ``seq`` up to this.

    A lease's fencing token names one tenure of one process on one feed
    (a process that takes a feed again gets a new one), and ticks carry it in
    the cache, so a feed's next owner replays exactly the ticks no stored
    batch holds.
    """

    lease: int
    seq: int


@dataclass(frozen=True, slots=True)
class MinuteBatch:
    """Minute deltas written together; ``batch_id`` makes a retried write a no-op.

    ``fences`` holds, per exchange of the rows, the lease token they were
    read under: the store refuses the rows of an exchange whose feed has
    since been claimed with a newer token. ``seq`` is the last tick sealed
    into it, so storing it moves each of its feeds' marks to
    ``SealMark(fence, seq)``.
    """

    batch_id: str
    rows: tuple[MinuteRow, ...]
    seq: int
    fences: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bucket:
    """The aggregate of one (exchange, symbol) over one second or one minute, as an absolute value.

    Written whole every time, so writing it again (a retry, a write-back after
    an outage) changes nothing. ``raw_complete`` says whether every raw tick
    of a second was still at hand when it was written: a window edge that
    cuts through a second without them cannot be exact. (A minute is only
    ever counted whole, so it needs no raw ticks.)
    """

    exchange: str
    symbol: str
    grain_ms: int
    start_ms: int
    stats: PriceStats
    raw_complete: bool


@dataclass(frozen=True, slots=True)
class CacheBatch:
    """Raw ticks and the buckets of the seconds and minutes they fall in, written together."""

    ticks: Sequence[Tick]
    buckets: Sequence[Bucket]


@dataclass
class WindowRead:
    """Per exchange, the stats of a window; ``partial`` says why it is not exact, if it is not.

    ``lost`` names the exchanges whose data the cache no longer holds (it
    restarted empty and their owner has not written them back yet): their
    stats are left out and must come from elsewhere.
    """

    stats: dict[str, PriceStats]
    partial: str | None = None
    lost: tuple[str, ...] = ()

    def absorb(self, other: "WindowRead") -> "WindowRead":
        """Add the exchanges another read answered (the in-process window standing in for the cache)."""
        self.stats.update(other.stats)
        self.partial = self.partial or other.partial
        return self


@dataclass
class BucketRead:
    """Per bucket start, the stats of the exchanges asked for, merged; ``partial`` says why not exact.

    ``lost``: as for ``WindowRead``.
    """

    buckets: dict[int, PriceStats]
    partial: str | None = None
    lost: tuple[str, ...] = ()

    def absorb(self, other: "BucketRead") -> "BucketRead":
        """Add the exchanges another read answered (the in-process window standing in for the cache)."""
        for start, stats in other.buckets.items():
            merge_at(self.buckets, start, stats)
        self.partial = self.partial or other.partial
        return self


class TickCache(Protocol):
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

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        """Per exchange, the stats of ticks with ``after_ms < ts <= to_ms``."""
        ...

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        """The buckets of one grain with ``from_ms <= start < to_ms``, exchanges merged."""
        ...

    def ticks_after(self, exchange: str, marks: Sequence[SealMark]) -> list[Tick]:
        """The cached ticks of ``exchange`` read under one of the marks' leases, with a higher ``seq`` than its."""
        ...

    def ping(self) -> float:
        """Round trip in seconds; raises ``StorageUnavailable``."""
        ...


class MinuteStore(Protocol):
    """Per-minute aggregates, merged idempotently by batch id, fenced per feed."""

    def write(self, batch: MinuteBatch) -> list[str]:
        """Merge a batch; returns the exchanges whose rows were refused for a stale fencing token."""
        ...

    def claim(self, exchange: str, token: int, timeout: float | None = None) -> list[SealMark]:
        """Fence the feed with ``token``; returns what no stored batch holds: the feed's mark, and every
        other lease that claimed it since (from its first tick).

        Raises ``FeedFenced`` when a newer token already holds it, and
        ``StorageUnavailable`` past ``timeout`` (None: the store's own call
        timeout; the lease loop must not wait longer than its leases last). The marks
        move only when a batch of the feed is stored (a batch with no rows
        too), which also clears the claims.
        """
        ...

    def summarize(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> PriceStats:
        """Count-weighted totals and extremes of minutes with ``from_ms <= minute < to_ms``.

        An extreme's timestamp is the start of the minute it was seen in.
        """
        ...

    def candles(
        self, symbol: str, exchanges: Sequence[str], interval_ms: int, from_ms: int, to_ms: int
    ) -> list[tuple[int, PriceStats]]:
        """Stored minutes with ``from_ms <= minute < to_ms`` merged per interval (a whole number of minutes
        dividing a day), oldest first, as ``(interval start, stats)``; extremes carry the interval's start."""
        ...

    def ping(self) -> float: ...


class BatchSpool(Protocol):
    """Sealed minute batches, kept durably until the store has them.

    ``append`` returns only once the batch would survive a crash, so a
    sealed minute is never lost; ``ack`` marks a batch stored.
    """

    dropped: int

    def append(self, batch: MinuteBatch) -> None: ...

    def pending(self) -> list[MinuteBatch]: ...

    def ack(self, batch_id: str) -> None: ...

    set_aside_count: int

    def set_aside(self, batch: MinuteBatch, reason: str) -> None:
        """Move a batch the store refused to a dead-letter file (kept for a human), so the others go on."""
        ...


Emit = Callable[[list[bytes]], None]
"""How a source hands raw messages to the pipeline (one call per read)."""


class FeedSource(Protocol):
    """A producer of raw messages for one exchange name."""

    name: str

    def run(self, emit: Emit, status: SourceStatus) -> None:
        """Produce until killed; reconnects are the source's own business."""
        ...

    def decode(self, raw: bytes) -> Iterator[tuple[object, object, object, object, object] | InvalidTick]:
        """Yield ``(symbol, price, timestamp, quantity, trade_id)`` per trade (None for what a feed lacks),
        or an ``InvalidTick`` in place of a bad trade
        (so the good trades after it still come out); raise ``InvalidTick`` when the message can't be read."""
        ...


class FeedLeases(Protocol):
    """Who reads each feed, across every process sharing the cache: a lease with a TTL per feed.

    Every call raises ``StorageUnavailable`` when the cache does not answer.
    """

    def acquire(self, feed: str) -> int | None:
        """Take the feed if no process holds it; returns its fencing token (newer than any before), or None."""
        ...

    def renew(self, feed: str) -> bool:
        """Extend this process's lease; takes it again if the cache lost it. False: another process has it."""
        ...

    def release(self, feed: str) -> None: ...

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        """Per feed, the process holding it (``host:pid``), or None when it is free."""
        ...


class ProcessRegistry(Protocol):
    """The processes sharing the cache, each with what it last said about itself (a TTL'd entry)."""

    def heartbeat(self, summary: dict[str, object]) -> None: ...

    def leave(self) -> None:
        """This process stops: no longer counted, nor shown as reading anything."""
        ...

    def processes(self) -> list[dict[str, object]]: ...


class ControlChannel(Protocol):
    """The control state every process shares (mode, proxy settings), and news of its changes.

    Every call raises ``StorageUnavailable`` when the shared store does not answer.
    """

    def load(self) -> dict[str, object] | None: ...

    def publish(self, state: dict[str, object]) -> None:
        """Store the state and tell every process."""
        ...

    def listen(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` once subscribed and on every change, until the connection fails."""
        ...


class ControlCopy(Protocol):
    """This host's copy of the last control state seen, for a start while the shared store is down."""

    def load(self) -> dict[str, object] | None: ...

    def save(self, state: dict[str, object]) -> None: ...


class TickRelay(Protocol):
    """Processed ticks passed between processes, so every worker's WebSocket clients see every feed.

    Every call raises ``StorageUnavailable`` when the shared store does not answer.
    """

    def send(self, run: str, ticks: Sequence[Tick]) -> None: ...

    def listen(self, received: Callable[[str, list[Tick]], None]) -> None:
        """Call ``received(run, ticks)`` for every batch any process sends, until the connection fails."""
        ...


RawTrade = tuple[object, object, object, object, object]
"""One trade as a decoder gives it: ``(symbol, price, timestamp, quantity, trade_id)``, not yet validated."""


@dataclass(frozen=True, slots=True)
class TradeMark:
    """A trade seen on a stream: where the stream stood."""

    trade_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Missing:
    """The trades of one symbol that came between two seen trades (both excluded) and were not seen."""

    symbol: str
    after: TradeMark
    before: TradeMark


@dataclass(frozen=True)
class Recovery:
    """What an exchange's history gave back for a ``Missing``: trades oldest first, and what it no longer has."""

    trades: list[RawTrade]
    lost: TradeGap | None


class TradeHistory(Protocol):
    """An exchange's public trade history (REST), for the trades a stream missed."""

    def recover(self, missing: Missing) -> Recovery:
        """Raises ``OSError`` when the exchange can't be asked (after waiting out any rate limit)."""
        ...
