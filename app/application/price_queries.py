"""Latest, highest, lowest and average prices over a period.

A window is answered from per-second buckets plus the raw ticks of the
seconds its edges cut through, from the cache (Redis), or from the
in-process window when the cache does not answer or lost its data. Beyond
the retention, whole minutes (and hourly and daily rollups) come from the
minute store, weighted by each row's tick count. Every step is bounded by
the number of seconds, minutes, hours and days in the window, never by the
number of ticks, so no request can hold the event loop for long. A window
that reaches into a known trade gap of one of its (exchange, symbol) pairs
is partial, and says which.
"""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.application.modes import ModeService
from app.application.ports import LatestPrice, MinuteStore, StorageUnavailable, TickCache, WindowRead
from app.application.recent_window import RecentWindow
from app.application.trade_gaps import TradeGaps, describe
from app.domain.errors import DomainError
from app.domain.market import Market
from app.domain.period import Period
from app.domain.stats import PriceStats
from app.domain.window import WindowPlan, plan_window

FROM_MEMORY_ONLY_SINCE_START = (
    "Redis is unavailable and the in-process window holds only what this process received since it started"
)
STORE_UNAVAILABLE = "PostgreSQL is unavailable: the stored minutes of the window are not counted"


class NoData(DomainError):
    """Nothing was seen in the requested window."""


@dataclass(frozen=True)
class WindowAnswer:
    symbol: str
    exchanges: tuple[str, ...]
    period: Period
    stats: PriceStats
    # The span accounted for: ``from_ms <= ts <= to_ms``.
    from_ms: int
    to_ms: int
    # Why the answer is not exact; empty when it is.
    partial: tuple[str, ...] = ()


class PriceQueries:
    def __init__(
        self,
        market: Market,
        modes: ModeService,
        cache: TickCache,
        fallback: RecentWindow,
        store: MinuteStore,
        retention_ms: int,
        cache_ready: Callable[[], bool],
        gaps: TradeGaps,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._market = market
        self._modes = modes
        self._cache = cache
        self._fallback = fallback
        self._store = store
        self._retention_ms = retention_ms
        self._cache_ready = cache_ready
        self._gaps = gaps
        self._clock = clock

    def _scope(self, symbol: str, exchange: str | None) -> tuple[str, list[str]]:
        canonical = self._market.symbol(symbol)
        if exchange is None:
            return canonical, self._modes.exchanges()
        return canonical, [self._market.exchange(exchange)]

    def latest(self, symbol: str, exchange: str | None = None) -> tuple[str, LatestPrice]:
        canonical, exchanges = self._scope(symbol, exchange)
        prices = None
        if self._cache_ready():
            with contextlib.suppress(StorageUnavailable):  # unreachable, or restarted empty (CacheLost)
                prices = self._cache.latest(canonical, exchanges)
        if prices is None:
            prices = self._fallback.latest(canonical, exchanges)
        if not prices:
            raise NoData(f"no price seen yet for {canonical}")
        return canonical, max(prices, key=lambda price: price.ts_ms)

    def _recent(self, symbol: str, exchanges: list[str], plan: WindowPlan) -> WindowRead:
        """From the cache while it holds everything; else from the in-process window, saying what it lacks."""
        if self._cache_ready():
            try:
                return self._cache.window(symbol, exchanges, plan.recent_after_ms, plan.to_ms)
            except StorageUnavailable:  # unreachable, or restarted empty (CacheLost)
                pass
        read = self._fallback.window(symbol, exchanges, plan.recent_after_ms, plan.to_ms)
        if read.partial is None and plan.recent_after_ms + 1 < self._fallback.since_ms:
            read.partial = FROM_MEMORY_ONLY_SINCE_START
        return read

    def window(self, symbol: str, exchange: str | None, period: Period) -> WindowAnswer:
        canonical, exchanges = self._scope(symbol, exchange)
        now_ms = int(self._clock() * 1000)
        plan = plan_window(now_ms, period.ms, self._retention_ms)
        recent = self._recent(canonical, exchanges, plan)
        stats = PriceStats()
        for part in recent.stats.values():
            stats.merge(part)
        partial = [recent.partial] if recent.partial else []
        if plan.needs_store:
            try:
                stats.merge(self._store.summarize(canonical, exchanges, plan.stored_from_ms, plan.stored_to_ms))
            except StorageUnavailable:
                partial.append(STORE_UNAVAILABLE)
        if not stats.count:
            raise NoData(f"no ticks for {canonical} in the last {period.text}")
        partial.extend(
            describe(gap) for gap in self._gaps.overlapping(canonical, exchanges, plan.covered_from_ms, now_ms)
        )
        return WindowAnswer(canonical, tuple(exchanges), period, stats, plan.covered_from_ms, now_ms, tuple(partial))
