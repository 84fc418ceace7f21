import pytest

from app.domain.time_grid import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    MS_PER_SECOND,
    MS_PER_TENTH,
    ceil_to,
    floor_to,
)

T = 1_763_712_300_000  # 2025-11-21T08:05:00Z: on every grid up to a minute


def test_units_are_the_milliseconds_sql_lua_and_the_wire_assume() -> None:
    assert (MS_PER_TENTH, MS_PER_SECOND, MS_PER_MINUTE) == (100, 1000, 60_000)
    assert (MS_PER_HOUR, MS_PER_DAY) == (3_600_000, 86_400_000)


@pytest.mark.parametrize(
    ("ms", "grain", "floor", "ceil"),
    [
        (T, MS_PER_MINUTE, T, T),
        (T + 1, MS_PER_MINUTE, T, T + MS_PER_MINUTE),
        (T - 1, MS_PER_MINUTE, T - MS_PER_MINUTE, T),
        (T + 45_678, MS_PER_MINUTE, T, T + MS_PER_MINUTE),
        (T + 45_678, MS_PER_SECOND, T + 45_000, T + 46_000),
        (T + 45_678, MS_PER_TENTH, T + 45_600, T + 45_700),
        (T + 45_678, 90_000, T - 30_000, T + 60_000),  # a 90 s candle: its grid counts from the epoch
        (T, MS_PER_DAY, 1_763_683_200_000, 1_763_769_600_000),
        (0, MS_PER_DAY, 0, 0),
        (1, MS_PER_SECOND, 0, 1000),
        (999, MS_PER_SECOND, 0, 1000),
        (1000, MS_PER_SECOND, 1000, 1000),
        (5, 1, 5, 5),
        # Before the epoch (a retention reaching back past 0): still the bucket at or before, at or after.
        (-1, MS_PER_SECOND, -1000, 0),
        (-999, MS_PER_SECOND, -1000, 0),
        (-1000, MS_PER_SECOND, -1000, -1000),
        (-1001, MS_PER_SECOND, -2000, -1000),
        (-MS_PER_MINUTE - 1, MS_PER_MINUTE, -2 * MS_PER_MINUTE, -MS_PER_MINUTE),
    ],
)
def test_floor_and_ceil_snap_to_the_grid_around_a_boundary(ms: int, grain: int, floor: int, ceil: int) -> None:
    assert (floor_to(ms, grain), ceil_to(ms, grain)) == (floor, ceil)


@pytest.mark.parametrize("grain", [1, 7, MS_PER_TENTH, MS_PER_SECOND, 90_000, MS_PER_DAY])
def test_floor_and_ceil_are_the_nearest_multiples_either_side(grain: int) -> None:
    around = {k * grain + offset for k in range(-3, 4) for offset in (-2, -1, 0, 1, 2, grain // 2)}
    for ms in sorted(around):
        floor, ceil = floor_to(ms, grain), ceil_to(ms, grain)
        assert (floor % grain, ceil % grain) == (0, 0)
        assert floor <= ms < floor + grain
        assert ceil - grain < ms <= ceil
        assert ceil == (floor if ms == floor else floor + grain)
