"""Which stored rows answer a span, tier by tier, as far as each tier's retention keeps them."""

import pytest

from app.config.loader import ConfigError, load_config
from app.domain.retention import Retention, cover
from app.domain.rollup import stored_ranges
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE

MIN, HOUR, DAY = MS_PER_MINUTE, MS_PER_HOUR, MS_PER_DAY
NOW = 20_000 * DAY + 10 * HOUR + 30 * MIN
KEPT = Retention(minutes_days=2, hours_days=4, days_days=6)


def test_a_span_inside_every_retention_reads_the_fewest_rows_exactly() -> None:
    lo, hi = NOW - DAY - 17 * MIN, NOW - 3 * MIN
    assert cover(lo, hi, KEPT, NOW) == cover(lo, hi, Retention(0, 0, 0), NOW)
    coverage = cover(lo, hi, KEPT, NOW)
    assert (coverage.ranges, coverage.exact) == (stored_ranges(lo, hi), True)


def test_past_the_minutes_whole_hours_answer_and_the_cut_hour_is_lost() -> None:
    lo = NOW - 3 * DAY - 7 * MIN  # 20_000 - 3 days + 10:23
    coverage = cover(lo, NOW, KEPT, NOW)
    minutes_from = 19_998 * DAY
    assert coverage.ranges == [
        (HOUR, 19_997 * DAY + 11 * HOUR, minutes_from),
        *stored_ranges(minutes_from, NOW),
    ]
    assert (coverage.exact, coverage.past, coverage.from_ms) == (False, ("minutes",), 19_997 * DAY + 11 * HOUR)


def test_a_span_starting_on_an_hour_past_the_minutes_is_still_exact() -> None:
    coverage = cover(19_997 * DAY + 11 * HOUR, NOW, KEPT, NOW)
    assert coverage.exact


def test_past_every_tier_only_what_is_kept_is_read() -> None:
    coverage = cover(19_990 * DAY, 19_999 * DAY, KEPT, NOW)
    assert coverage.ranges == [(DAY, 19_994 * DAY, 19_999 * DAY)]
    assert (coverage.exact, coverage.past) == (False, ("minutes", "hours", "days"))
    # Minute candles have no coarser tier to fall back on.
    minutes_only = cover(19_997 * DAY, 19_999 * DAY, KEPT, NOW, (MIN,))
    assert (minutes_only.ranges, minutes_only.exact) == ([(MIN, 19_998 * DAY, 19_999 * DAY)], False)


@pytest.mark.parametrize(
    ("retention", "refusal"),
    [
        ({"minutes_days": 40, "hours_days": 30}, "retention.hours_days: must be at least retention.minutes_days (40)"),
        ({"days_days": 100}, "retention.days_days: must be 0 (for ever) or at least retention.hours_days (400)"),
        ({"minutes_days": 0}, "retention.minutes_days"),
    ],
)
def test_a_tier_kept_shorter_than_a_finer_one_fails_at_startup(tmp_path, retention: dict, refusal: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("retention:\n" + "".join(f"  {k}: {v}\n" for k, v in retention.items()))
    with pytest.raises(ConfigError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, env={})
