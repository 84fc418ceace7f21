"""Stored history at three grains: minutes, and their hourly and daily rollups.

A span of whole minutes is read as the fewest rows: the minutes up to the
first hour boundary, the hours up to the first day boundary, whole days,
then hours and minutes again at the far end. ``period=366d`` therefore
reads at most about 400 rows per exchange instead of 527,040 minutes.
Rollups are merged from the same minute deltas as the minutes themselves,
so they stay exact under retries and late ticks.
"""

from collections.abc import Iterable

from app.domain.stats import PriceStats, merge_at
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, ceil_to, floor_to

GRAINS = (MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE)

StoredRange = tuple[int, int, int]
"""``(grain_ms, from_ms, to_ms)``: rows of that grain with ``from <= start < to``."""

RollupKey = tuple[str, str, int]
"""``(exchange, symbol, start_ms)`` of one rollup row."""


def stored_ranges(from_ms: int, to_ms: int, grains: tuple[int, ...] = GRAINS) -> list[StoredRange]:
    """Cover ``[from, to)`` (minute-aligned) with rows of the coarsest grains that fit, oldest first."""
    if from_ms >= to_ms:
        return []
    grain, finer = grains[0], grains[1:]
    if not finer:
        return [(grain, from_ms, to_ms)]
    lo = ceil_to(from_ms, grain)
    hi = floor_to(to_ms, grain)
    if lo >= hi:
        return stored_ranges(from_ms, to_ms, finer)
    return [*stored_ranges(from_ms, lo, finer), (grain, lo, hi), *stored_ranges(hi, to_ms, finer)]


def roll_up(minutes: Iterable[tuple[str, str, int, PriceStats]], grain_ms: int) -> dict[RollupKey, PriceStats]:
    """Merge minute deltas into deltas of a coarser grain.

    A minute's extremes carry the minute's start as their time, so a rollup's
    extreme says which minute it was seen in, as a minute row does.
    """
    rolled: dict[RollupKey, PriceStats] = {}
    for exchange, symbol, minute_ms, stats in minutes:
        merge_at(rolled, (exchange, symbol, floor_to(minute_ms, grain_ms)), stats)
    return rolled
