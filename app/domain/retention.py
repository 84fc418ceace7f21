"""How long each tier of stored history is kept, and what a span past it can still be answered from.

Minutes, hours and days are kept for ``retention.minutes_days``,
``hours_days`` and ``days_days`` (0: for ever), counted from the start of
the current UTC day. A tier's horizon is therefore a day boundary, which
every coarser grain divides, so a span reaching past the minutes' horizon
switches to whole hours exactly there; only its far edge, where it cuts an
hour (or a day) whose minutes are gone, can't be exact. Readers use the
horizon, not what happens to be still stored, so every process answers the
same whether or not the old partitions were dropped yet.
"""

from dataclasses import dataclass, field

from app.domain.rollup import GRAINS, StoredRange, stored_ranges
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, ceil_to, floor_to

TIER_NAMES = {MS_PER_MINUTE: "minutes", MS_PER_HOUR: "hours", MS_PER_DAY: "days"}


def horizon_ms(now_ms: int, days: int) -> int:
    """Where ``days`` whole UTC days kept before today begin: a tier's rows (or partitions) before it are gone."""
    return floor_to(now_ms, MS_PER_DAY) - days * MS_PER_DAY


@dataclass(frozen=True, slots=True)
class Retention:
    """Days kept per tier; 0 keeps a tier for ever."""

    minutes_days: int
    hours_days: int
    days_days: int

    def days(self, grain_ms: int) -> int:
        return {MS_PER_MINUTE: self.minutes_days, MS_PER_HOUR: self.hours_days, MS_PER_DAY: self.days_days}[grain_ms]

    def kept_from(self, grain_ms: int, now_ms: int) -> int | None:
        """The oldest row start a tier is read from at ``now_ms`` (None: the tier is kept for ever)."""
        days = self.days(grain_ms)
        return horizon_ms(now_ms, days) if days else None


@dataclass(frozen=True, slots=True)
class Coverage:
    """The stored rows to read for a span, and which part of it they account for exactly."""

    ranges: list[StoredRange]
    # The tiers whose retention the span reaches past, finest first (their configuration keys).
    past: tuple[str, ...]
    exact: bool

    @property
    def from_ms(self) -> int | None:
        return self.ranges[0][1] if self.ranges else None

    def reason(self) -> str:
        """Why the span is not exact: the retention it reaches past."""
        keys = ", ".join(f"retention.{name}_days" for name in self.past)
        return f"stored history past its retention ({keys}) is kept only at a coarser grain or not at all"


def cover(from_ms: int, to_ms: int, retention: Retention, now_ms: int, grains: tuple[int, ...] = GRAINS) -> Coverage:
    """Rows of ``grains`` (coarsest first) covering ``[from, to)`` as far as the tiers' retention allows.

    Each tier, finest first, takes what it still holds at the newer end (reading coarser grains wherever
    they fit, as ``stored_ranges``); the older rest goes to the next coarser tier, shrunk to its grain.
    Whatever is lost that way makes the coverage inexact.
    """
    ranges: list[StoredRange] = []
    past: list[str] = []
    lo, hi = from_ms, to_ms
    finest_first = tuple(reversed(grains))
    for i, grain in enumerate(finest_first):
        if lo >= hi:
            break
        kept = retention.kept_from(grain, now_ms)
        start = lo if kept is None else max(lo, kept)
        if start > lo:
            past.append(TIER_NAMES[grain])
        if start < hi:
            ranges = stored_ranges(start, hi, grains[: len(grains) - i]) + ranges
            hi = start
        if i + 1 < len(finest_first):
            coarser = finest_first[i + 1]
            lo, hi = ceil_to(lo, coarser), floor_to(hi, coarser)
    covered = sum(end - start for _, start, end in ranges)
    return Coverage(_joined(ranges), tuple(past), covered == to_ms - from_ms)


def _joined(ranges: list[StoredRange]) -> list[StoredRange]:
    """Adjacent ranges of one grain (read by two tiers) as one: one part less for the query."""
    joined: list[StoredRange] = []
    for grain, lo, hi in ranges:
        if joined and joined[-1][0] == grain and joined[-1][2] == lo:
            joined[-1] = (grain, joined[-1][1], hi)
        else:
            joined.append((grain, lo, hi))
    return joined


@dataclass(frozen=True, slots=True)
class Upkeep:
    """One round of history upkeep. ``held``: this process did it (False: another one was at it, this one only
    looked); ``dropped``: ``(tier, partition)``; ``oldest_ms``: per tier, the first instant of its oldest
    partition (None: none)."""

    held: bool
    created: int = 0
    dropped: tuple[tuple[str, str], ...] = ()
    owners_removed: int = 0
    oldest_ms: dict[str, int | None] = field(default_factory=dict)
