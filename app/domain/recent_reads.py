"""What a read of the recent window answers: latest prices, window stats and buckets, and why not exact."""

from dataclasses import dataclass

from app.domain.stats import PriceStats, merge_at


@dataclass(frozen=True, slots=True)
class LatestPrice:
    exchange: str
    price: float
    ts_ms: int


class _Reasons:
    """Why a read is not exact (``partial``): every distinct reason of every part, in the order found (empty: it
    is exact)."""

    partial: tuple[str, ...]

    def mark_partial(self, reason: str) -> None:
        if reason not in self.partial:
            self.partial = (*self.partial, reason)

    def _absorb_reasons(self, other: "_Reasons") -> None:
        for reason in other.partial:
            self.mark_partial(reason)


@dataclass
class WindowRead(_Reasons):
    """Per exchange, the stats of a window; ``partial`` says why it is not exact, if it is not.

    ``lost`` names the exchanges whose data the cache no longer holds (it
    restarted empty and their owner has not written them back yet): their
    stats are left out and must come from elsewhere.
    """

    stats: dict[str, PriceStats]
    partial: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    def absorb(self, other: "WindowRead") -> "WindowRead":
        """Add the exchanges another read answered (the in-process window standing in for the cache), and why
        that part is not exact."""
        self.stats.update(other.stats)
        self._absorb_reasons(other)
        return self


@dataclass
class BucketRead(_Reasons):
    """Per bucket start, the stats of the exchanges asked for, merged; ``partial`` says why not exact.

    ``lost``: as for ``WindowRead``.
    """

    buckets: dict[int, PriceStats]
    partial: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    def absorb(self, other: "BucketRead") -> "BucketRead":
        """Add the exchanges another read answered (the in-process window standing in for the cache), and why
        that part is not exact."""
        for start, stats in other.buckets.items():
            merge_at(self.buckets, start, stats)
        self._absorb_reasons(other)
        return self
