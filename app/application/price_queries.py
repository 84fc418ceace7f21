"""Latest, highest, lowest and average prices over a period.

Raw ticks come from the cache (Redis), or from the in-process window when
the cache does not answer. Beyond the raw horizon, whole minutes come from
the minute store and averages are weighted by each minute's tick count.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from app.application.modes import ModeService
from app.application.ports import LatestPrice, MinuteStore, StorageUnavailable, TickCache
from app.domain.errors import DomainError
from app.domain.market import Market
from app.domain.period import Period
from app.domain.stats import PriceStats
from app.domain.window import plan_window

T = TypeVar("T")


class NoData(DomainError):
    """Nothing was seen in the requested window."""


@dataclass(frozen=True)
class WindowAnswer:
    symbol: str
    exchanges: tuple[str, ...]
    period: Period
    stats: PriceStats
    # False when stored minutes were needed but the store did not answer.
    complete: bool


class PriceQueries:
    def __init__(
        self,
        market: Market,
        modes: ModeService,
        cache: TickCache,
        fallback: TickCache,
        store: MinuteStore,
        raw_horizon_ms: int,
        cache_ready: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._market = market
        self._modes = modes
        self._cache = cache
        self._fallback = fallback
        self._store = store
        self._raw_horizon_ms = raw_horizon_ms
        self._cache_ready = cache_ready
        self._clock = clock

    def _read(self, query: Callable[[TickCache], T]) -> T:
        """From the cache while it holds everything; else from the in-process window."""
        if self._cache_ready():
            try:
                return query(self._cache)
            except StorageUnavailable:
                pass
        return query(self._fallback)

    def _scope(self, symbol: str, exchange: str | None) -> tuple[str, list[str]]:
        canonical = self._market.symbol(symbol)
        if exchange is None:
            return canonical, self._modes.exchanges()
        return canonical, [self._market.exchange(exchange)]

    def latest(self, symbol: str, exchange: str | None = None) -> tuple[str, LatestPrice]:
        canonical, exchanges = self._scope(symbol, exchange)
        prices = self._read(lambda cache: cache.latest(canonical, exchanges))
        if not prices:
            raise NoData(f"no price seen yet for {canonical}")
        return canonical, max(prices, key=lambda price: price.ts_ms)

    def window(self, symbol: str, exchange: str | None, period: Period) -> WindowAnswer:
        canonical, exchanges = self._scope(symbol, exchange)
        now_ms = int(self._clock() * 1000)
        plan = plan_window(now_ms, period.ms, self._raw_horizon_ms)
        raw = self._read(lambda cache: cache.ticks(canonical, exchanges, plan.raw_after_ms, plan.to_ms))
        stats = PriceStats()
        for name, ticks in raw.items():
            for ts, price in ticks:
                stats.add(name, price, ts)
        complete = True
        if plan.needs_minutes:
            try:
                stats.merge(self._store.summarize(canonical, exchanges, plan.minutes_from_ms, plan.minutes_to_ms))
            except StorageUnavailable:
                complete = False
        if not stats.count:
            raise NoData(f"no ticks for {canonical} in the last {period.text}")
        return WindowAnswer(canonical, tuple(exchanges), period, stats, complete)
