"""What the recent window is written as: absolute per-second and per-minute buckets, with the raw ticks."""

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.stats import PriceStats
from app.domain.tick import Tick


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
