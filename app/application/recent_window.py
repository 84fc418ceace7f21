"""An in-process copy of the recent raw-tick window.

It answers price queries while Redis is unreachable. Each (exchange, symbol)
keeps at most ``max_ticks`` ticks and nothing older than ``retention_ms``, so
memory stays flat whatever the input rate.
"""

import time
from collections import deque
from collections.abc import Callable, Sequence

from app.application.ports import LatestPrice
from app.domain.tick import Tick


class RecentWindow:
    """Implements the ``TickCache`` port in memory; it never fails."""

    def __init__(self, retention_ms: int, max_ticks: int, clock: Callable[[], float] = time.time) -> None:
        self._retention_ms = retention_ms
        self._max_ticks = max_ticks
        self._clock = clock
        self._ticks: dict[tuple[str, str], deque[tuple[int, float, int]]] = {}
        self._latest: dict[tuple[str, str], LatestPrice] = {}

    def write(self, ticks: Sequence[Tick]) -> None:
        touched = set()
        for tick in ticks:
            key = (tick.exchange, tick.symbol)
            window = self._ticks.get(key)
            if window is None:
                window = self._ticks[key] = deque(maxlen=self._max_ticks)
            window.append((tick.ts_ms, tick.price, tick.seq))
            touched.add(key)
            latest = self._latest.get(key)
            if latest is None or tick.ts_ms >= latest.ts_ms:
                self._latest[key] = LatestPrice(tick.exchange, tick.price, tick.ts_ms)
        horizon = int(self._clock() * 1000) - self._retention_ms
        for key in touched:
            window = self._ticks[key]
            while window and window[0][0] <= horizon:
                window.popleft()

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]:
        found = (self._latest.get((exchange, symbol)) for exchange in exchanges)
        return [price for price in found if price is not None]

    def ticks(
        self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int
    ) -> dict[str, list[tuple[int, float]]]:
        return {
            exchange: [
                (ts, price) for ts, price, _ in self._ticks.get((exchange, symbol), ()) if after_ms < ts <= to_ms
            ]
            for exchange in exchanges
        }

    def snapshot(self) -> list[Tick]:
        """Every tick held, e.g. to write the window back into a cache that lost it."""
        return [
            Tick(exchange, symbol, price, ts, seq)
            for (exchange, symbol), window in self._ticks.items()
            for ts, price, seq in window
        ]

    def ping(self) -> float:
        return 0.0
