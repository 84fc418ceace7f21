from app.domain.window import WindowPlan, plan_window

MIN = 60_000
NOW = 1_763_712_345_678  # 45.678 s into a minute


def test_short_period_is_all_raw() -> None:
    assert plan_window(NOW, 30_000, 300_000) == WindowPlan(NOW - 30_000, NOW)


def test_period_equal_to_horizon_is_all_raw() -> None:
    assert not plan_window(NOW, 300_000, 300_000).needs_minutes


def test_long_period_splits_at_a_minute_boundary_inside_the_horizon() -> None:
    plan = plan_window(NOW, 60 * MIN, 5 * MIN)
    cut = (NOW - 5 * MIN) // MIN * MIN
    assert plan.raw_after_ms == cut - 1
    assert plan.minutes_to_ms == cut
    # The first whole minute after now - period; the leading partial minute is left out.
    assert plan.minutes_from_ms == (NOW - 60 * MIN) // MIN * MIN + MIN
    assert NOW - plan.raw_after_ms <= 5 * MIN + MIN  # raw part never needs more than horizon + slack


def test_long_period_without_a_whole_minute_stays_raw() -> None:
    plan = plan_window(NOW, 5 * MIN + 10_000, 5 * MIN)
    assert plan == WindowPlan(NOW - 5 * MIN - 10_000, NOW)
