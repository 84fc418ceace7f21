"""Minutes as the store keeps them: a row per (exchange, symbol, minute), written in batches under fences.

Also the aggregator's account of them at one moment (``AggregatorSnapshot``), a plain value every process report
carries.
"""

from dataclasses import dataclass, field

from app.domain.stats import PriceStats


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """One minute of one (exchange, symbol): the unit PostgreSQL stores.

    ``open``/``close`` carry the trade times they were seen at
    (``open_ms``/``close_ms``), so deltas of one minute merge into the exact
    open and close; ``volume`` and ``vwap`` are None when no tick carried a
    quantity. A row spooled by a version without them has them all None.
    ``feed`` is the feed its ticks were read under (the exchange, or its
    shard holding the symbol), which the store fences; a row spooled by a
    version without shards has the exchange.
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
    feed: str = ""

    def __post_init__(self) -> None:
        if not self.feed:
            object.__setattr__(self, "feed", self.exchange)

    @classmethod
    def of(cls, feed: str, exchange: str, symbol: str, minute_ms: int, stats: PriceStats) -> "MinuteRow":
        """The row of a minute's aggregate (its extremes' times are not stored: the minute is their time)."""
        s = stats
        extremes = (s.count, s.mean, s.low, s.high)
        trades = (s.first, s.first_ts, s.last, s.last_ts, s.volume, s.vwap)
        return cls(exchange, symbol, minute_ms, *extremes, *trades, feed)


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

    ``fences`` holds, per feed of the rows, the lease token they were read
    under: the store refuses the rows of a feed that has since been claimed
    with a newer token. ``seq`` is the last tick sealed
    into it, so storing it moves each of its feeds' marks to
    ``SealMark(fence, seq)``.
    """

    batch_id: str
    rows: tuple[MinuteRow, ...]
    seq: int
    fences: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AggregatorSnapshot:
    """The minutes at one moment: open, waiting in the spool, and what became of the written ones."""

    open_minutes: int = 0
    unsent_batches: int = 0
    rows_written: int = 0
    rows_fenced: int = 0
    batches_dropped: int = 0
    batches_set_aside: int = 0
    ticks_replayed: int = 0
