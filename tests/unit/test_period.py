import pytest

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
