"""Reconnect pacing: capped exponential backoff with full jitter.

Full jitter (anywhere from 0 to the ceiling) spreads the feeds that lost
their connections together over the whole interval, so they don't come back
in step.

The delay only resets after a connection has stayed healthy for
``stable_after`` seconds, so a feed that connects and drops at once keeps
backing off instead of hammering the exchange.
"""

import random
import time

import gevent


class Backoff:
    def __init__(self, initial: float, maximum: float, stable_after: float = 30.0) -> None:
        self._initial = initial
        self._maximum = maximum
        self._stable_after = stable_after
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return random.uniform(0.0, ceiling)

    def connection_ended(self, lasted: float) -> None:
        if lasted >= self._stable_after:
            self._attempt = 0


class ConnectPacer:
    """At most one connection attempt per ``min_interval`` for one exchange.

    Exchanges ban IPs that open connections too often (Binance: 300 per 5
    minutes; OKX: 3 per second), whatever the reason for the reconnects.
    """

    def __init__(self, min_interval: float) -> None:
        self._min_interval = min_interval
        self._last = float("-inf")

    def wait(self) -> None:
        delay = self._last + self._min_interval - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        self._last = time.monotonic()
