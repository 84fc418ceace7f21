"""How a look-back window ``(now - period, now]`` splits into the pieces we keep.

Recent history (the retention: ``window.raw_seconds``) is kept as raw ticks
and as one aggregate per (exchange, symbol) and minute, second and tenth of
a second. A window inside the retention is answered from the whole minutes
it covers, the whole seconds and tenths around them, and the raw ticks of
the tenths its edges cut through: exact to the millisecond, in at most
period / 1 min + 2 x (59 + 9 + 1) bucket reads, whatever the tick rate. Older history exists only as stored minutes
(and their hourly and daily rollups), so a longer window counts the whole
minutes that lie inside it and are older than the retention, and every
retained tick after them: it never answers fewer ticks than a shorter
period would.
"""

from dataclasses import dataclass
from enum import Enum

from app.domain.tick import minute_start
from app.domain.time_grid import MS_PER_MINUTE, MS_PER_SECOND, MS_PER_TENTH, floor_to


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Ticks with ``recent_after_ms < ts <= to_ms`` come from the recent window;
    stored rows with ``stored_from_ms <= start < stored_to_ms`` from the store.

    ``covered_from_ms`` is the first millisecond the answer accounts for: the
    window's own start, or later when a long window's leading partial minute
    has nothing left to split it with.
    """

    recent_after_ms: int
    to_ms: int
    stored_from_ms: int = 0
    stored_to_ms: int = 0

    @property
    def needs_store(self) -> bool:
        return self.stored_to_ms > self.stored_from_ms

    @property
    def covered_from_ms(self) -> int:
        return self.stored_from_ms if self.needs_store else self.recent_after_ms + 1


def plan_window(now_ms: int, period_ms: int, retention_ms: int) -> WindowPlan:
    """Plan ``(now - period, now]`` given that ticks newer than ``now - retention`` are kept."""
    start = now_ms - period_ms
    retained_after = now_ms - retention_ms
    if start >= retained_after:
        return WindowPlan(start, now_ms)
    # The first minute boundary past the retention edge: the minute before it is only partly retained.
    boundary = minute_start(retained_after) + MS_PER_MINUTE
    # The first minute wholly inside the window (a tick at ``start`` itself is outside it).
    first_whole = minute_start(start) + MS_PER_MINUTE
    straddling = boundary - MS_PER_MINUTE
    if first_whole <= straddling:
        # The straddling minute lies wholly inside the window. Its recent minute bucket is still whole
        # and, unlike its stored row, never waits for a seal or a flush: count it from there.
        return WindowPlan(straddling - 1, now_ms, first_whole, straddling)
    # No whole minute older than the retention: count every retained tick of the window.
    return WindowPlan(retained_after, now_ms)


GRAINS = (MS_PER_MINUTE, MS_PER_SECOND, MS_PER_TENTH)
"""The bucket sizes kept for the recent window, coarsest first; the finest keeps its raw ticks."""


@dataclass(frozen=True, slots=True)
class Split:
    """``(after, to]`` as ranges of buckets that lie wholly inside it, and edge spans left for the finest grain.

    ``whole`` holds ``(grain_ms, from_ms, to_ms)``: buckets of that grain with
    ``from <= start < to``. ``edges`` holds ``(after, to]`` spans, each inside
    at most a few finest buckets, to be counted bucket by bucket (``cover``).
    """

    whole: tuple[tuple[int, int, int], ...]
    edges: tuple[tuple[int, int], ...]


def split_window(after_ms: int, to_ms: int, grains: tuple[int, ...] = GRAINS) -> Split:
    """The coarsest buckets wholly inside the window, then finer ones around them, down to the edges."""
    if to_ms <= after_ms:
        return Split((), ())
    grain, finer = grains[0], grains[1:]
    if not finer:
        return Split((), ((after_ms, to_ms),))
    first = floor_to(after_ms, grain) + grain  # the first bucket holding no millisecond at or before ``after``
    end = floor_to(to_ms + 1, grain)  # buckets before it end at or before ``to``
    if first >= end:
        return split_window(after_ms, to_ms, finer)
    left, right = split_window(after_ms, first - 1, finer), split_window(end - 1, to_ms, finer)
    return Split((*left.whole, (grain, first, end), *right.whole), (*left.edges, *right.edges))


class Cover(Enum):
    """How a bucket whose ticks span ``[first_ts, last_ts]`` relates to a window."""

    WHOLE = "whole"
    OUTSIDE = "outside"
    SPLIT = "split"


def cover(first_ts: int, last_ts: int, after_ms: int, to_ms: int) -> Cover:
    """Whether a bucket counts whole, not at all, or needs its raw ticks, for ``(after, to]``.

    Deciding on the bucket's actual tick times rather than on its second's
    bounds means an edge second needs raw ticks only when the window really
    cuts between two of its ticks.
    """
    if first_ts > after_ms and last_ts <= to_ms:
        return Cover.WHOLE
    if last_ts <= after_ms or first_ts > to_ms:
        return Cover.OUTSIDE
    return Cover.SPLIT
