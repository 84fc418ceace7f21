"""The tick: one trade price seen on one exchange at one instant."""

from dataclasses import dataclass

from app.domain.errors import InvalidTick
from app.domain.time_grid import MS_PER_MINUTE, floor_to

RawTrade = tuple[object, object, object, object, object]
"""One trade as a decoder gives it: ``(symbol, price, timestamp, quantity, trade_id)``, not yet validated
(``None`` for what a feed lacks)."""

Decoded = RawTrade | InvalidTick
"""What a decoder yields per trade: the trade, or why it could not be read (so the trades after it still come)."""


@dataclass(slots=True)
class Tick:
    """A validated trade.

    ``ts_ms`` is the exchange's own trade time in Unix milliseconds, so that
    windows and minute buckets follow market time rather than arrival time.
    ``seq`` is the arrival order within one process, set once when the tick
    enters the pipeline: it tells equal trades apart and makes writing the
    same tick twice a no-op. ``quantity`` is the traded amount and
    ``trade_id`` the exchange's own id of the trade (both None where a feed
    has none, like the exchange programs): volume and VWAP count only ticks
    with a quantity, and the id is what recognises a trade seen twice.
    ``lease`` is the fencing token of the lease on its feed it was read under
    (0 without one): with ``seq`` it names the tick across processes, so a
    feed's next owner can replay it. ``feed`` is that feed: the exchange, or
    the shard of it that holds the symbol (``domain.feed_map``).
    """

    exchange: str
    symbol: str
    price: float
    ts_ms: int
    seq: int = 0
    quantity: float | None = None
    trade_id: str | None = None
    lease: int = 0
    feed: str = ""

    def __post_init__(self) -> None:
        if not self.feed:
            self.feed = self.exchange


def minute_start(ts_ms: int) -> int:
    """The start (ms) of the UTC minute holding ``ts_ms``; buckets are keyed by it."""
    return floor_to(ts_ms, MS_PER_MINUTE)
