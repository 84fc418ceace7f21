"""Candles: what a request may ask for, which candles that is, and where each part of them is kept.

An interval is a whole number of s, m, h or d from 1s to 1d that divides a
day, so candles line up with UTC days (and, for whole minutes, with the
stored minutes). A request covers at most ``limit`` intervals, so its cost
is bounded by the limit, never by how far back it asks or how busy the
market was.

Whole-minute intervals are answered like a long window (``window.py``):
stored minutes and rollups up to the minute that straddles the retention's
edge, and the recent minute buckets from there on, so the current candle is
exact before its minutes are sealed. Other intervals (``1s`` .. ``59s``,
``90s``, ...) only exist as per-second buckets, so they reach back as far as
the retention does.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.domain.errors import DomainError
from app.domain.period import parse_duration
from app.domain.stats import PriceStats, merge_at
from app.domain.tick import minute_start
from app.domain.time_grid import MS_PER_DAY, MS_PER_MINUTE, MS_PER_SECOND, ceil_to, floor_to

_MILLISECONDS = re.compile(r"[0-9]{1,15}")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
# 9999-12-31T23:59:59.999Z: the last instant ISO 8601 (and every client) can write.
MAX_INSTANT_MS = 253_402_300_799_999


class InvalidCandleRequest(DomainError):
    """An interval, instant or limit a candle request can't have (a 400)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A candle's length; ``text`` is how the answer names it (``90s``, ``5m``)."""

    text: str
    ms: int

    @property
    def whole_minutes(self) -> bool:
        return self.ms % MS_PER_MINUTE == 0


def parse_interval(text: str) -> Interval:
    """``<whole number><s|m|h|d>``, from 1s to 1d, dividing a day evenly."""
    usage = "a whole number of s, m, h or d that divides a day, e.g. 1s or 5m"
    name, ms = parse_duration(text, "interval", usage, InvalidCandleRequest)
    if not 0 < ms <= MS_PER_DAY or MS_PER_DAY % ms:
        raise InvalidCandleRequest(f"interval {text[:40]!r} must be from 1s to 1d and divide a day evenly")
    return Interval(name, ms)


def parse_instant(text: str, name: str) -> int:
    """Unix milliseconds, or ISO 8601 with a zone (``Z`` or an offset); ``name`` is the parameter's."""
    if _MILLISECONDS.fullmatch(text):
        ms = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise InvalidCandleRequest(
                f"invalid {name} {text[:40]!r}: use Unix milliseconds or ISO 8601 with a zone, e.g. "
                "2026-11-21T10:15:00Z"
            )
        ms = math.floor(moment.timestamp() * MS_PER_SECOND)
    if not 0 <= ms <= MAX_INSTANT_MS:
        raise InvalidCandleRequest(f"{name} {text[:40]!r} is out of range (1970 to 9999)")
    return ms


def parse_limit(text: str) -> int:
    """A whole number of candles from 1 to ``MAX_LIMIT``."""
    if not _MILLISECONDS.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidCandleRequest(f"invalid limit {text[:40]!r}: a whole number from 1 to {MAX_LIMIT}")
    return int(text)


@dataclass(frozen=True, slots=True)
class CandlePlan:
    """Candles starting in ``[from_ms, to_ms)``; the parts of them kept where.

    ``stored_*``: stored minutes (and rollups) with a start in that range;
    ``recent_*``: buckets of ``recent_grain_ms`` (minutes or seconds) with a
    start in that range. ``from_ms`` is where the answer can start: later
    than asked when sub-minute candles would reach past the retention.
    """

    interval: Interval
    from_ms: int
    to_ms: int
    stored_from_ms: int
    stored_to_ms: int
    recent_grain_ms: int
    recent_from_ms: int
    recent_to_ms: int

    @property
    def needs_store(self) -> bool:
        return self.stored_to_ms > self.stored_from_ms


def plan_candles(
    interval: Interval, from_ms: int | None, to_ms: int | None, limit: int, now_ms: int, retention_ms: int
) -> CandlePlan:
    """Which candles ``[from, to)`` asks for (at most ``limit`` intervals) and where each part of them is.

    Without ``to`` the span runs to now (the current candle included);
    without ``from`` it is the last ``limit`` intervals before ``to``.
    """
    if from_ms is not None and to_ms is not None and from_ms >= to_ms:
        raise InvalidCandleRequest("from must be before to")
    step = interval.ms
    # The first candle start at or after ``to``; no later than the current candle's end: nothing is there.
    end = min(ceil_to(now_ms + 1, step), ceil_to(now_ms + 1 if to_ms is None else to_ms, step))
    start = min(end, max(0, end - limit * step) if from_ms is None else ceil_to(from_ms, step))
    end = min(end, start + limit * step)
    horizon = now_ms - retention_ms
    if interval.whole_minutes:
        # The minute holding the retention's edge and every later one: from their (still whole) recent buckets.
        straddling = minute_start(horizon)
        recent_from = max(start, straddling)
        return CandlePlan(interval, start, end, start, min(end, straddling), MS_PER_MINUTE, recent_from, end)
    # Only the retention holds seconds: a candle counts when its first second is still wholly retained.
    start = min(end, max(start, ceil_to(horizon + 1, step)))
    return CandlePlan(interval, start, end, 0, 0, MS_PER_SECOND, start, end)


@dataclass(frozen=True, slots=True)
class Candle:
    """One interval's trades; ``volume``/``vwap`` are None when none carried a quantity, and ``open``/``close``
    when only minutes stored before they were kept lie in it."""

    start_ms: int
    open: float | None
    high: float
    low: float
    close: float | None
    count: int
    volume: float | None
    vwap: float | None
    closed: bool


def candles(pieces: Iterable[tuple[int, PriceStats]], interval_ms: int, now_ms: int) -> list[Candle]:
    """Merge ``(start, stats)`` pieces (buckets, stored candles) into candles, oldest first."""
    grouped: dict[int, PriceStats] = {}
    for start, stats in pieces:
        merge_at(grouped, floor_to(start, interval_ms), stats)
    return [
        Candle(
            start,
            None if math.isnan(s.first) else s.first,
            s.high,
            s.low,
            None if math.isnan(s.last) else s.last,
            s.count,
            s.volume,
            s.vwap,
            start + interval_ms <= now_ms,
        )
        for start, s in sorted(grouped.items())
        if s.count
    ]
