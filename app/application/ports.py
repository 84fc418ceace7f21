"""The ports: what the application needs from the outside, as protocols.

Adapters implement these; unit tests implement them in memory.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.domain.clock_skew import ClockSkew
from app.domain.errors import InvalidTick
from app.domain.stats import PriceStats
from app.domain.tick import Tick
from app.domain.trade_gap import TradeGap


class StorageUnavailable(RuntimeError):
    """A backing store did not answer in time; callers degrade instead of failing."""


class BatchRejected(RuntimeError):
    """The store refused a batch for what it holds, not for being unreachable: retrying can't help."""


class CacheLost(StorageUnavailable):
    """The cache answers but no longer holds this process's data (it restarted empty)."""


@dataclass(frozen=True, slots=True)
class LatestPrice:
    exchange: str
    price: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """One minute of one (exchange, symbol): the unit PostgreSQL stores."""

    exchange: str
    symbol: str
    minute_ms: int
    count: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class SealMark:
    """How far sealing got: every tick of process ``run`` up to ``seq`` is in a batch.

    Stored with each batch, so after a crash the next process knows which of
    the dead one's cached ticks no batch holds yet, and replays exactly those.
    """

    run: str
    seq: int


@dataclass(frozen=True, slots=True)
class MinuteBatch:
    """Minute deltas written together; ``batch_id`` makes a retried write a no-op."""

    batch_id: str
    rows: tuple[MinuteRow, ...]
    mark: SealMark


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
    """Per exchange, the stats of a window; ``partial`` says why it is not exact, if it is not."""

    stats: dict[str, PriceStats]
    partial: str | None = None


class TickCache(Protocol):
    """Recent raw ticks, per-second and per-minute buckets and the latest price per (exchange, symbol)."""

    def write(self, batch: CacheBatch) -> bool:
        """Write a batch; False when the cache held no mark of this process (see ``mark``) before it."""
        ...

    def mark(self, since_ms: int) -> None:
        """Record that the cache holds this process's data, complete from ``since_ms`` on.

        Kept if already there: a cache that was only unreachable lost nothing.
        A cache that restarted empty loses the mark with everything else,
        which is how both the writer and the readers notice.
        """
        ...

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]: ...

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        """Per exchange, the stats of ticks with ``after_ms < ts <= to_ms``; raises ``CacheLost``."""
        ...

    def ticks_after(self, mark: SealMark) -> list[Tick]:
        """The cached ticks of process ``mark.run`` with a higher ``seq`` than ``mark.seq``."""
        ...

    def ping(self) -> float:
        """Round trip in seconds; raises ``StorageUnavailable``."""
        ...


class MinuteStore(Protocol):
    """Per-minute aggregates, merged idempotently by batch id."""

    def write(self, batch: MinuteBatch) -> None: ...

    def summarize(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> PriceStats:
        """Count-weighted totals and extremes of minutes with ``from_ms <= minute < to_ms``.

        An extreme's timestamp is the start of the minute it was seen in.
        """
        ...

    def ping(self) -> float: ...


class BatchSpool(Protocol):
    """Sealed minute batches, kept durably until the store has them.

    ``append`` returns only once the batch would survive a crash, so a
    sealed minute is never lost; ``ack`` marks a batch stored. ``mark`` is
    the newest batch's ``SealMark``, kept even once every batch is stored.
    """

    dropped: int
    mark: SealMark | None

    def append(self, batch: MinuteBatch) -> None: ...

    def pending(self) -> list[MinuteBatch]: ...

    def ack(self, batch_id: str) -> None: ...

    def keep_mark(self, mark: SealMark) -> None:
        """Make ``mark`` durable without a batch: every tick it covers is already in one."""
        ...

    set_aside_count: int

    def set_aside(self, batch: MinuteBatch, reason: str) -> None:
        """Move a batch the store refused to a dead-letter file (kept for a human), so the others go on."""
        ...


Emit = Callable[[list[bytes]], None]
"""How a source hands raw messages to the pipeline (one call per read)."""


@dataclass
class SourceStatus:
    """What /health shows about one feed; the source adapter keeps it current."""

    name: str
    state: str = "stopped"
    connected_since: float | None = None
    last_message_at: float | None = None
    messages: int = 0
    ticks: int = 0
    reconnects: int = 0
    last_error: str | None = None
    # The exchange's own words (an error message it sent), kept apart so a later connection error can't hide them.
    last_exchange_error: str | None = None
    decode_errors: dict[str, int] = field(default_factory=dict)
    # Trades dropped because their id had been seen already (a replay, an overlap, a backfill).
    duplicates: int = 0
    # Live exchanges only: trades recovered over REST, symbols silent while others trade, their resubscribes,
    # and receive time minus exchange time.
    recovered: int = 0
    silent_symbols: list[str] = field(default_factory=list)
    resubscribes: int = 0
    clock_skew: ClockSkew | None = None


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
