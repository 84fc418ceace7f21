"""The ports: what the application needs from the outside, as protocols.

Adapters implement these; unit tests implement them in memory.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.domain.stats import PriceStats
from app.domain.tick import Tick


class StorageUnavailable(RuntimeError):
    """A backing store did not answer in time; callers degrade instead of failing."""


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


class TickCache(Protocol):
    """Recent raw ticks and the latest price per (exchange, symbol)."""

    def write(self, ticks: Sequence[Tick]) -> None: ...

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]: ...

    def ticks(
        self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int
    ) -> dict[str, list[tuple[int, float]]]:
        """Per exchange, ``(ts_ms, price)`` of ticks with ``after_ms < ts <= to_ms``."""
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


class FeedSource(Protocol):
    """A producer of raw messages for one exchange name."""

    name: str

    def run(self, emit: Emit, status: SourceStatus) -> None:
        """Produce until killed; reconnects are the source's own business."""
        ...

    def decode(self, raw: bytes) -> Iterator[tuple[object, object, object]]:
        """Yield ``(symbol, price, timestamp)`` per trade; raise ``InvalidTick`` on bad input."""
        ...
