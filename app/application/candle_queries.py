"""Candles of one symbol, on one exchange or across the current mode's exchanges.

The plan (``domain.candles``) says which part of the span comes from stored
minutes and rollups and which from the recent buckets (minutes, or seconds
for sub-minute intervals); each part is read in one round trip that returns
at most one row per candle or bucket, and merged here per candle. No part
reads raw ticks, so a request costs the same whatever the market's rate.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.application.ports.storage import MinuteStore, StorageUnavailable
from app.application.price_queries import STORE_UNAVAILABLE, PriceQueries
from app.domain.candles import Candle, CandlePlan, Interval, candles, plan_candles
from app.domain.recent_reads import BucketRead
from app.domain.rollup import GRAINS
from app.domain.stats import PriceStats
from app.domain.time_grid import floor_to, seconds_to_ms


@dataclass(frozen=True)
class CandleAnswer:
    symbol: str
    exchanges: tuple[str, ...]
    interval: Interval
    candles: list[Candle]
    # Candle starts accounted for: ``from_ms <= start < to_ms``.
    from_ms: int
    to_ms: int
    # Why the answer is not exact; empty when it is.
    partial: tuple[str, ...] = ()


class CandleQueries:
    def __init__(
        self,
        queries: PriceQueries,
        store: MinuteStore,
        retention_ms: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._queries = queries
        self._store = store
        self._retention_ms = retention_ms
        self._clock = clock

    def candles(
        self,
        symbol: str,
        exchange: str | None,
        interval: Interval,
        from_ms: int | None,
        to_ms: int | None,
        limit: int,
    ) -> CandleAnswer:
        canonical, scope = self._queries.scope(symbol, exchange)
        # Named order: a tie in trade time between exchanges goes the same way in every part (see the store).
        exchanges = sorted(scope)
        now_ms = seconds_to_ms(self._clock())
        plan = plan_candles(interval, from_ms, to_ms, limit, now_ms, self._retention_ms)
        pieces: list[tuple[int, PriceStats]] = []
        partial = []
        if plan.needs_store:
            # Grains dividing the interval: a stored row lies in one candle.
            grains = tuple(grain for grain in GRAINS if interval.ms % grain == 0)
            stored = self._queries.stored(plan.stored_from_ms, plan.stored_to_ms, now_ms, grains)
            if not stored.exact:
                partial.append(stored.reason())
            try:
                pieces = self._store.candles(canonical, exchanges, interval.ms, stored.ranges)
            except StorageUnavailable:
                partial.append(STORE_UNAVAILABLE)
        recent = self._recent(canonical, exchanges, plan)
        partial.extend(recent.partial)
        pieces.extend(recent.buckets.items())
        found = candles(pieces, interval.ms, now_ms)
        # The ticks the candles count: from the first one's start to the last millisecond of the last one (or now).
        last_ms = min(floor_to(plan.to_ms - 1, interval.ms) + interval.ms - 1, now_ms)
        partial.extend(self._queries.gaps_in(canonical, scope, plan.from_ms, last_ms))
        return CandleAnswer(canonical, tuple(scope), interval, found, plan.from_ms, plan.to_ms, tuple(partial))

    def _recent(self, symbol: str, exchanges: list[str], plan: CandlePlan) -> BucketRead:
        if plan.recent_to_ms <= plan.recent_from_ms:
            return BucketRead({})
        return self._queries.recent(
            lambda source, asked: source.buckets(
                symbol, asked, plan.recent_grain_ms, plan.recent_from_ms, plan.recent_to_ms
            ),
            symbol,
            exchanges,
            plan.recent_from_ms,
        )
