"""Receive time minus exchange time, per source: how far the exchange's clock and the network put us off."""

from collections import deque

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
        ordered = sorted(self.samples)
        if not ordered:
            return {"p50_ms": None, "p99_ms": None, "last_ms": None, "flagged": False}
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return {"p50_ms": p50, "p99_ms": p99, "last_ms": self.samples[-1], "flagged": abs(p50) > self.bound_ms}
