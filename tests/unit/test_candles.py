import pytest

from app.domain.candles import (
    Interval,
    InvalidCandleRequest,
    candles,
    parse_instant,
    parse_interval,
    parse_limit,
    plan_candles,
)
from app.domain.stats import PriceStats

DAY = 86_400_000
NOW = 1_763_712_345_678  # 2025-11-21T08:05:45.678Z
RETENTION = 300_000


@pytest.mark.parametrize(
    ("text", "name", "ms"),
    [
        ("1s", "1s", 1000),
        ("5s", "5s", 5000),
        ("15s", "15s", 15_000),
        ("45s", "45s", 45_000),
        ("60s", "60s", 60_000),
        ("90s", "90s", 90_000),
        ("1m", "1m", 60_000),
        ("05m", "5m", 300_000),
        ("15m", "15m", 900_000),
        ("1h", "1h", 3_600_000),
        ("4h", "4h", 14_400_000),
        ("12h", "12h", 43_200_000),
        ("1440m", "1440m", DAY),
        ("1d", "1d", DAY),
    ],
)
def test_intervals_that_divide_a_day(text: str, name: str, ms: int) -> None:
    assert parse_interval(text) == Interval(name, ms)


@pytest.mark.parametrize(
    "text", ["", "0s", "7s", "7m", "5h", "2d", "1w", "1.5m", "m", " 1m", "1m ", "-1m", "\uff11m", "1M", "9999999999s"]
)
def test_other_intervals_are_refused(text: str) -> None:
    with pytest.raises(InvalidCandleRequest):
        parse_interval(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("1763712345678", 1_763_712_345_678),
        ("2025-11-21T08:05:45.678Z", 1_763_712_345_678),
        ("2025-11-21T10:05:45.678+02:00", 1_763_712_345_678),
        ("2025-11-21T08:05:45Z", 1_763_712_345_000),
        ("2025-11-21T08:05:45.6789Z", 1_763_712_345_678),
    ],
)
def test_instants(text: str, ms: int) -> None:
    assert parse_instant(text, "from") == ms


@pytest.mark.parametrize(
    "text",
    ["", "abc", "2025-11-21T08:05:45", "-5", "1e12", "\uff11\uff12", "9999999999999999", "1763712345678.5", "NaN"],
)
def test_bad_instants_name_the_parameter(text: str) -> None:
    with pytest.raises(InvalidCandleRequest, match="to"):
        parse_instant(text, "to")


@pytest.mark.parametrize(("text", "ok"), [("1", True), ("5000", True), ("0", False), ("5001", False), ("x", False)])
def test_limit(text: str, ok: bool) -> None:
    if ok:
        assert parse_limit(text) == int(text)
    else:
        with pytest.raises(InvalidCandleRequest):
            parse_limit(text)


def test_by_default_the_last_limit_intervals_up_to_the_current_one() -> None:
    plan = plan_candles(parse_interval("1m"), None, None, 10, NOW, RETENTION)
    current = NOW - NOW % 60_000
    assert (plan.from_ms, plan.to_ms) == (current - 9 * 60_000, current + 60_000)
    # Stored minutes up to the minute holding the retention's edge, recent minute buckets from it on.
    straddling = (NOW - RETENTION) - (NOW - RETENTION) % 60_000
    assert (plan.stored_from_ms, plan.stored_to_ms) == (plan.from_ms, straddling)
    assert (plan.recent_grain_ms, plan.recent_from_ms, plan.recent_to_ms) == (60_000, straddling, plan.to_ms)


def test_from_and_to_bound_candle_starts_and_limit_bounds_the_span() -> None:
    hour = parse_interval("1h")
    plan = plan_candles(hour, 1_000, 10 * 3_600_000 + 1, 5000, NOW, RETENTION)
    assert (plan.from_ms, plan.to_ms) == (3_600_000, 11 * 3_600_000)  # starts in [from, to)
    plan = plan_candles(hour, 0, None, 3, NOW, RETENTION)
    assert (plan.from_ms, plan.to_ms, plan.recent_to_ms) == (0, 3 * 3_600_000, 3 * 3_600_000)
    plan = plan_candles(hour, None, 10 * 3_600_000, 3, NOW, RETENTION)
    assert (plan.from_ms, plan.to_ms) == (7 * 3_600_000, 10 * 3_600_000)


def test_nothing_after_the_current_candle_and_nothing_before_1970() -> None:
    plan = plan_candles(parse_interval("1d"), 253_402_300_799_999, None, 10, NOW, RETENTION)
    assert plan.from_ms == plan.to_ms == NOW - NOW % DAY + DAY
    plan = plan_candles(parse_interval("1d"), None, 5, 10, NOW, RETENTION)
    assert (plan.from_ms, plan.to_ms) == (0, DAY)


def test_from_must_be_before_to() -> None:
    with pytest.raises(InvalidCandleRequest):
        plan_candles(parse_interval("1m"), 5, 5, 10, NOW, RETENTION)


def test_sub_minute_candles_come_from_retained_seconds_only() -> None:
    plan = plan_candles(parse_interval("15s"), None, None, 500, NOW, RETENTION)
    assert not plan.needs_store
    assert plan.recent_grain_ms == 1000
    assert plan.from_ms == 1_763_712_060_000  # the first 15 s start after now - retention (08:00:45.678)
    assert (plan.recent_from_ms, plan.recent_to_ms) == (plan.from_ms, plan.to_ms)
    assert plan.to_ms == 1_763_712_360_000


def stats(*ticks: tuple[float, int, float | None]) -> PriceStats:
    s = PriceStats()
    for price, ts, quantity in ticks:
        s.add("ex", price, ts, quantity)
    return s


def test_pieces_merge_into_candles_with_open_close_volume_and_vwap() -> None:
    pieces = [
        (60_000, stats((10.0, 60_500, 1.0), (12.0, 61_000, None))),
        (0, stats((9.0, 1_000, None))),
        (120_000, stats((11.0, 120_000, 3.0))),  # the next 2 m candle
        (61_000, stats((8.0, 60_100, 2.0), (13.0, 61_000, 1.0))),  # opens earlier, closes on the same ms later
    ]
    first, second = candles(pieces, 120_000, now_ms=130_000)
    assert (first.start_ms, first.open, first.high, first.low, first.close, first.count) == (0, 9.0, 13.0, 8.0, 13.0, 5)
    assert (first.volume, first.vwap, first.closed) == (4.0, (10.0 + 16.0 + 13.0) / 4.0, True)
    assert (second.start_ms, second.volume, second.vwap, second.closed) == (120_000, 3.0, 11.0, False)


def test_without_quantities_volume_and_vwap_are_none() -> None:
    (only,) = candles([(0, stats((1.0, 5, None)))], 1000, now_ms=10_000)
    assert (only.volume, only.vwap) == (None, None)
