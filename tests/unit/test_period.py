from collections.abc import Callable

import pytest

from app.domain.candles import InvalidCandleRequest, parse_interval
from app.domain.errors import InvalidPeriod
from app.domain.period import parse_period


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1s", 1000),
        ("3s", 3000),
        ("30s", 30_000),
        ("1m", 60_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
    ],
)
def test_valid_periods(text: str, ms: int) -> None:
    period = parse_period(text)
    assert (period.text, period.ms) == (text, ms)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "-5s",
        "0s",
        "5",
        "s",
        "1.5m",
        "5 m",
        "5M",
        "1w",
        "99999999h",
        "x" * 10_000,
        "\u0661m",
        "\uff11m",
        " 1m ",
        "1m\n",
    ],
)
def test_invalid_periods(text: str) -> None:
    with pytest.raises(InvalidPeriod):
        parse_period(text)


def test_leading_zeros_are_normalised_in_the_echo() -> None:
    assert parse_period("030s").text == "30s"


PERIOD_USAGE = "a positive whole number of s, m, h or d, e.g. 30s or 5m"
INTERVAL_USAGE = "a whole number of s, m, h or d that divides a day, e.g. 1s or 5m"


@pytest.mark.parametrize(
    ("parse", "text", "error", "message"),
    [
        (parse_period, "5 m", InvalidPeriod, f"invalid period '5 m': use {PERIOD_USAGE}"),
        (parse_period, "x" * 50, InvalidPeriod, f"invalid period {'x' * 40!r}: use {PERIOD_USAGE}"),
        (parse_period, "000m", InvalidPeriod, "period must be greater than zero"),
        (parse_period, "367d", InvalidPeriod, "period '367d' is longer than 366 days"),
        (parse_interval, "1w", InvalidCandleRequest, f"invalid interval '1w': use {INTERVAL_USAGE}"),
        (parse_interval, "7s", InvalidCandleRequest, "interval '7s' must be from 1s to 1d and divide a day evenly"),
        (parse_interval, "0s", InvalidCandleRequest, "interval '0s' must be from 1s to 1d and divide a day evenly"),
        (parse_interval, "2d", InvalidCandleRequest, "interval '2d' must be from 1s to 1d and divide a day evenly"),
    ],
)
def test_each_refused_span_says_why(
    parse: Callable[[str], object], text: str, error: type[Exception], message: str
) -> None:
    """Periods and candle intervals share their spelling, not their bounds, errors or texts."""
    with pytest.raises(error) as refused:
        parse(text)
    assert str(refused.value) == message
