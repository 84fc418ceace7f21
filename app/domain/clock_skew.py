"""Receive time minus exchange time, per source: how far the exchange's clock and the network put us off."""

from collections import deque
from dataclasses import dataclass

from app.domain.percentile import percentiles

# Recent samples kept for the percentiles.
SAMPLES = 2000


@dataclass(frozen=True)
class SkewSummary:
    """Receive time minus exchange time (ms) of one source: recent p50 and p99, the last one (None before any
    sample), and whether the median is past the source's bound.

    Its feed's report carries it as is to /health, the heartbeat and /metrics, so each reader names these fields
    and a rename fails them all. The defaults are what a heartbeat lacking a figure reads as.
    """

    p50_ms: float | None = None
    p99_ms: float | None = None
    last_ms: float | None = None
    flagged: bool = False


class ClockSkew:
    """The last ``SAMPLES`` skews (ms) of one source; flagged when their median is past ``bound_ms`` either way."""

    def __init__(self, bound_ms: float) -> None:
        self.bound_ms = bound_ms
        self.samples: deque[int] = deque(maxlen=SAMPLES)

    def add(self, received_ms: int, exchange_ms: int) -> None:
        self.samples.append(received_ms - exchange_ms)

    def summary(self) -> SkewSummary:
        """The figures now: all None, and not flagged, before any sample."""
        # One snapshot for all three figures, as floats: /health has always shown them so (``300.0``).
        samples = [float(skew) for skew in self.samples]
        p50, p99 = percentiles(samples, 0.5, 0.99)
        if p50 is None:
            return SkewSummary()
        return SkewSummary(p50_ms=p50, p99_ms=p99, last_ms=samples[-1], flagged=abs(p50) > self.bound_ms)
