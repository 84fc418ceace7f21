"""Percentiles of recent samples (latencies, clock skews), as /health and the metrics report them."""

from collections.abc import Iterable
from typing import TypeVar

N = TypeVar("N", int, float)


def percentile(samples: Iterable[N], fraction: float) -> N | None:
    """The sample at ``fraction`` (0 to 1) of the way up the sorted samples; None when there is nothing to rank.

    Nearest rank, never an interpolation: the answer is one of the samples,
    a latency or skew that really happened, in the samples' own type. The
    index is ``int(fraction * count)``, kept below the count, so 0.5 is the
    upper median of an even count and 0.99 of up to 100 samples is the largest.
    """
    ordered = sorted(samples)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
