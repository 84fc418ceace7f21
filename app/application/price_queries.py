"""Latest, highest, lowest and average prices over a period.

A window is answered from per-second buckets plus the raw ticks of the
seconds its edges cut through, from the cache (Redis), or from the
in-process window when the cache does not answer or lost its data. Beyond
the retention, whole minutes (and hourly and daily rollups) come from the
minute store, weighted by each row's tick count; past a tier's own
retention (``retention.*``) from the next coarser one, partial where the
window's far edge cuts a row that is no longer there. Every step is bounded by
the number of seconds, minutes, hours and days in the window, never by the
number of ticks, so no request can hold the event loop for long. A window
that reaches into a known trade gap of one of its (exchange, symbol) pairs
is partial, and says which.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from app.application.modes import ModeService
from app.application.ports.storage import MinuteStore, StorageUnavailable, TickCache
from app.application.recent_window import RecentWindow
from app.application.trade_gaps import TradeGaps, describe
from app.domain.errors import DomainError
from app.domain.feed_map import FeedMap
from app.domain.market import Market
from app.domain.period import Period
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.retention import Coverage, Retention, cover
from app.domain.rollup import GRAINS
from app.domain.stats import PriceStats
from app.domain.time_grid import seconds_to_ms
from app.domain.window import WindowPlan, plan_window

FROM_MEMORY_ONLY_SINCE_START = (
    "Redis is unavailable and the in-process window holds only what this process received since it began"
    " reading the feed"
)
ELSEWHERE = "Redis is unavailable (or lost their data) and these feeds are read by another process: {}"
STORE_UNAVAILABLE = "PostgreSQL is unavailable: the stored minutes of the window are not counted"


RecentSource = TickCache | RecentWindow
"""Either holder of the recent window: they answer the same reads."""
Read = TypeVar("Read", WindowRead, BucketRead)


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


class CacheState(Protocol):
    @property
    def cache_consistent(self) -> bool:
        """Whether the cache holds the whole window of the feeds this process reads (the pipeline's writer)."""
        ...


class LocalFeeds(Protocol):
    def reading_since(self, feed: str) -> int | None:
        """Since when (ms) this process reads ``feed`` itself (None: another process does): what the
        in-process window can stand in for when Redis can't."""
        ...


class PriceQueries:
    def __init__(
        self,
        market: Market,
        modes: ModeService,
        cache: TickCache,
        fallback: RecentWindow,
        store: MinuteStore,
        retention_ms: int,
        cache_state: CacheState,
        local: LocalFeeds,
        feeds: FeedMap,
        gaps: TradeGaps,
        kept: Retention,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._market = market
        self._modes = modes
        self._cache = cache
        self._fallback = fallback
        self._store = store
        self._retention_ms = retention_ms
        self._cache_state = cache_state
        self._local = local
        self._feeds = feeds
        self._gaps = gaps
        self._kept = kept
        self._clock = clock

    def scope(self, symbol: str, exchange: str | None) -> tuple[str, list[str]]:
        """The canonical symbol and the exchanges asked for: one, or the current mode's."""
        canonical = self._market.symbol(symbol)
        if exchange is None:
            return canonical, self._modes.exchanges()
        return canonical, [self._market.exchange(exchange)]

    def _reading_since(self, symbol: str, exchange: str) -> int | None:
        """Since when this process reads ``symbol`` on ``exchange`` (the feed holding it), None: another does."""
        return self._local.reading_since(self._feeds.feed_of(exchange, symbol))

    def _from_cache(self, symbol: str, exchanges: list[str]) -> list[str]:
        """The exchanges to ask the cache for: all, unless this process's own writes to it are behind."""
        if self._cache_state.cache_consistent:
            return exchanges
        return [exchange for exchange in exchanges if self._reading_since(symbol, exchange) is None]

    def latest(self, symbol: str, exchange: str | None = None) -> tuple[str, LatestPrice]:
        canonical, exchanges = self.scope(symbol, exchange)
        asked = self._from_cache(canonical, exchanges)
        prices: list[LatestPrice] = []
        missing = [e for e in exchanges if e not in asked]
        try:
            found, lost = self._cache.latest(canonical, asked)
            prices.extend(found)
            missing.extend(lost)
        except StorageUnavailable:
            missing = exchanges
        prices.extend(
            self._fallback.latest(canonical, [e for e in missing if self._reading_since(canonical, e) is not None])
        )
        if not prices:
            raise NoData(f"no price seen yet for {canonical}")
        return canonical, max(prices, key=lambda price: price.ts_ms)

    def recent(
        self,
        read: Callable[[RecentSource, list[str]], Read],
        symbol: str,
        exchanges: list[str],
        reaches_back_to_ms: int,
    ) -> Read:
        """``read`` of ``symbol`` from the cache for the feeds it holds; the others from the in-process window if
        this process reads them (saying what that lacks), else left out and said so."""
        asked = self._from_cache(symbol, exchanges)
        missing = [e for e in exchanges if e not in asked]
        answer: Read | None = None
        try:
            answer = read(self._cache, asked)
            missing.extend(answer.lost)
        except StorageUnavailable:
            missing = list(exchanges)
        here = {e: since for e in missing if (since := self._reading_since(symbol, e)) is not None}
        if here or answer is None:
            local = read(self._fallback, list(here))
            # With no feed read here (``here`` empty), memory is asked for nothing: only "elsewhere" is the reason.
            if here and reaches_back_to_ms < max(self._fallback.since_ms, *here.values()):
                local.mark_partial(FROM_MEMORY_ONLY_SINCE_START)
            answer = local if answer is None else answer.absorb(local)
        elsewhere = [e for e in missing if e not in here]
        if elsewhere:
            answer.mark_partial(ELSEWHERE.format(", ".join(elsewhere)))
        return answer

    def gaps_in(self, symbol: str, exchanges: list[str], from_ms: int, to_ms: int) -> list[str]:
        """What makes a span ``from_ms..to_ms`` of these exchanges partial besides its reads: each known trade gap
        of any of them that it reaches into, whichever process found it."""
        return [describe(gap) for gap in self._gaps.overlapping(symbol, exchanges, from_ms, to_ms)]

    def _recent(self, symbol: str, exchanges: list[str], plan: WindowPlan) -> WindowRead:
        return self.recent(
            lambda source, asked: source.window(symbol, asked, plan.recent_after_ms, plan.to_ms),
            symbol,
            exchanges,
            plan.recent_after_ms + 1,
        )

    def window(self, symbol: str, exchange: str | None, period: Period) -> WindowAnswer:
        canonical, exchanges = self.scope(symbol, exchange)
        now_ms = seconds_to_ms(self._clock())
        plan = plan_window(now_ms, period.ms, self._retention_ms)
        recent = self._recent(canonical, exchanges, plan)
        stats = PriceStats()
        for part in recent.stats.values():
            stats.merge(part)
        partial = list(recent.partial)
        from_ms = plan.covered_from_ms
        if plan.needs_store:
            stored = self.stored(plan.stored_from_ms, plan.stored_to_ms, now_ms)
            # Past the minutes' retention the first hour (or day) a window cuts is left out, whole.
            from_ms = stored.from_ms if stored.from_ms is not None else plan.stored_to_ms
            if not stored.exact:
                partial.append(stored.reason())
            try:
                stats.merge(self._store.summarize(canonical, exchanges, stored.ranges))
            except StorageUnavailable:
                partial.append(STORE_UNAVAILABLE)
        if not stats.count:  # a partial one says why it may have missed them
            because = f" (partial: {'; '.join(partial)})" if partial else ""
            raise NoData(f"no ticks for {canonical} in the last {period.text}{because}")
        partial.extend(self.gaps_in(canonical, exchanges, from_ms, now_ms))
        return WindowAnswer(canonical, tuple(exchanges), period, stats, from_ms, now_ms, tuple(partial))

    def stored(self, from_ms: int, to_ms: int, now_ms: int, grains: tuple[int, ...] = GRAINS) -> Coverage:
        """The stored rows of ``grains`` to read for ``[from, to)``, as far as each tier's retention keeps them."""
        return cover(from_ms, to_ms, self._kept, now_ms, grains)
