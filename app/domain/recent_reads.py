"""What a read of the recent window answers: latest prices, window stats and buckets, and why not exact."""

from dataclasses import dataclass

from app.domain.stats import PriceStats, merge_at


@dataclass(frozen=True, slots=True)
class LatestPrice:
    exchange: str
    price: float
    ts_ms: int


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
