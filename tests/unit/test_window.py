from app.domain.time_grid import floor_to
from app.domain.window import Cover, WindowPlan, cover, plan_window

MIN = 60_000
NOW = 1_763_712_345_678  # 45.678 s into a minute
RETENTION = 5 * MIN


def test_a_period_inside_the_retention_is_answered_whole_from_the_recent_window() -> None:
    assert plan_window(NOW, 30_000, RETENTION) == WindowPlan(NOW - 30_000, NOW)
    assert not plan_window(NOW, RETENTION, RETENTION).needs_store


def test_long_period_reads_whole_minutes_up_to_the_first_boundary_inside_the_retention() -> None:
    plan = plan_window(NOW, 60 * MIN, RETENTION)
    boundary = floor_to(NOW - RETENTION, MIN) + MIN
    # The minute straddling the retention edge comes from its recent bucket, not from the store.
    assert (plan.recent_after_ms, plan.stored_to_ms) == (boundary - MIN - 1, boundary - MIN)
    # The first whole minute after now - period; the leading partial minute is left out.
    assert plan.stored_from_ms == floor_to(NOW - 60 * MIN, MIN) + MIN
    assert plan.covered_from_ms == plan.stored_from_ms


def test_just_past_the_retention_every_retained_tick_still_counts() -> None:
    # No whole minute older than the retention lies inside: the answer is the retained part, never less.
    plan = plan_window(NOW, RETENTION + 10_000, RETENTION)
    assert plan == WindowPlan(NOW - RETENTION, NOW)
    assert plan.covered_from_ms == NOW - RETENTION + 1


def test_cover_decides_on_the_bucket_s_own_tick_times() -> None:
    assert cover(1_001, 1_900, 1_000, 5_000) is Cover.WHOLE
    assert cover(1_000, 1_900, 1_000, 5_000) is Cover.SPLIT
    assert cover(900, 1_000, 1_000, 5_000) is Cover.OUTSIDE
    assert cover(4_500, 5_001, 1_000, 5_000) is Cover.SPLIT
    assert cover(5_001, 5_900, 1_000, 5_000) is Cover.OUTSIDE
