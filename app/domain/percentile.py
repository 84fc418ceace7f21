"""Percentiles of recent samples (latencies, clock skews), as /health and the metrics report them."""

from collections.abc import Iterable
from typing import TypeVar

N = TypeVar("N", int, float)


def percentiles(samples: Iterable[N], *fractions: float) -> tuple[N | None, ...]:
    """Per fraction (0 to 1), the sample that far up the sorted samples (sorted once for them all: 20,000
    latencies are sorted at every report); None each when there is nothing to rank.

    Nearest rank, never an interpolation: the answer is one of the samples,
    a latency or skew that really happened, in the samples' own type. The
    index is ``int(fraction * count)``, kept below the count, so 0.5 is the
    upper median of an even count and 0.99 of up to 100 samples is the largest.
    """
    ordered = sorted(samples)
    if not ordered:
        return tuple(None for _ in fractions)
    return tuple(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] for fraction in fractions)
