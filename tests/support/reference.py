"""Brute-force answers over a plain list of ticks: what every window read must equal."""

from collections.abc import Iterable

from app.domain.stats import PriceStats
from app.domain.tick import Tick


def reference_stats(ticks: Iterable[Tick], after_ms: int, to_ms: int) -> PriceStats:
    """Stats of the ticks with ``after_ms < ts <= to_ms``, added one by one."""
    stats = PriceStats()
    for tick in ticks:
        if after_ms < tick.ts_ms <= to_ms:
            stats.add(tick.exchange, tick.price, tick.ts_ms)
    return stats


def summary(stats: PriceStats) -> tuple:
    """What an answer exposes, with the mean rounded away from summation-order noise."""
    if not stats.count:
        return (0,)
    return (
        stats.count,
        round(stats.mean, 9),
        (stats.low, stats.low_ts, stats.low_exchange),
        (stats.high, stats.high_ts, stats.high_exchange),
    )
