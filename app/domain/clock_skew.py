"""Receive time minus exchange time, per source: how far the exchange's clock and the network put us off."""

from collections import deque

from app.domain.percentile import percentile

# Recent samples kept for the percentiles.
SAMPLES = 2000


class ClockSkew:
    """The last ``SAMPLES`` skews (ms) of one source; flagged when their median is past ``bound_ms`` either way."""

    def __init__(self, bound_ms: float) -> None:
        self.bound_ms = bound_ms
        self.samples: deque[int] = deque(maxlen=SAMPLES)

    def add(self, received_ms: int, exchange_ms: int) -> None:
        self.samples.append(received_ms - exchange_ms)

    def summary(self) -> dict[str, object]:
        """``p50_ms``, ``p99_ms``, ``last_ms`` (None before any sample) and ``flagged``."""
        samples = list(self.samples)  # one snapshot for all three figures
        p50 = percentile(samples, 0.5)
        if p50 is None:
            return {"p50_ms": None, "p99_ms": None, "last_ms": None, "flagged": False}
        return {
            "p50_ms": p50,
            "p99_ms": percentile(samples, 0.99),
            "last_ms": samples[-1],
            "flagged": abs(p50) > self.bound_ms,
        }
