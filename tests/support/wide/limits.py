"""The two shapes of an exchange's rate limits: so many events in any window, and a refilling budget."""

import time
from collections import deque


class SlidingWindow:
    """At most ``limit`` events in any ``seconds``: per-second message rates, handshakes per minutes, REST budgets.

    Every attempt counts, refused ones too, as the exchanges count attempts: a
    client that keeps knocking stays out. Stricter than a counter reset each
    whole second, so a client that paces itself evenly never trips it by luck.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: deque[float] = deque()

    def hit(self, now: float) -> bool:
        """Count one event at ``now``; True when it is within the limit."""
        while self._times and self._times[0] <= now - self.seconds:
            self._times.popleft()
        self._times.append(now)
        return len(self._times) <= self.limit

    def retry_after(self, now: float) -> float:
        """Seconds until one more event would be within the limit."""
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[-self.limit] + self.seconds - now)


class TokenBucket:
    """``capacity`` tokens refilled evenly at ``capacity`` per ``period``: OKX's 480 requests an hour per connection.

    Only a request that gets a token counts: OKX refuses the others with 60014
    without spending anything.
    """

    def __init__(self, capacity: int, period: float) -> None:
        self.capacity = capacity
        self.period = period
        self._tokens = float(capacity)
        self._updated = time.monotonic()

    def take(self, now: float) -> bool:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.capacity / self.period)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
