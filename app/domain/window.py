"""How a look-back window splits between raw ticks and stored minutes.

Raw ticks are kept for a configured horizon; older history exists only as
per-minute aggregates. A query longer than the horizon therefore reads whole
minutes up to a minute boundary ``cut`` and raw ticks from ``cut`` on.
"""

from dataclasses import dataclass

from app.domain.tick import MS_PER_MINUTE, minute_start

# Raw ticks are retained this long past the horizon so that the minute
# boundary ``cut`` (which can sit up to a minute before now - horizon) is
# always covered by raw data.
RAW_RETENTION_SLACK_MS = MS_PER_MINUTE


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Ticks with ``raw_after_ms < ts <= to_ms`` come raw; minute rows with
    ``minutes_from_ms <= start < minutes_to_ms`` come from the store."""

    raw_after_ms: int
    to_ms: int
    minutes_from_ms: int = 0
    minutes_to_ms: int = 0

    @property
    def needs_minutes(self) -> bool:
        return self.minutes_to_ms > self.minutes_from_ms


def plan_window(now_ms: int, period_ms: int, raw_horizon_ms: int) -> WindowPlan:
    """Plan the window ``(now - period, now]``.

    Inside the raw horizon the answer is exact. Beyond it, only minutes that
    lie wholly inside the window are counted: the leading partial minute has
    no raw ticks left to split it with.
    """
    start = now_ms - period_ms
    if period_ms <= raw_horizon_ms:
        return WindowPlan(start, now_ms)
    cut = minute_start(now_ms - raw_horizon_ms)
    first_minute = -(-(start + 1) // MS_PER_MINUTE) * MS_PER_MINUTE
    if first_minute >= cut:
        return WindowPlan(start, now_ms)
    return WindowPlan(cut - 1, now_ms, first_minute, cut)
