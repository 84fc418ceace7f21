"""A computed figure prints as the decimal it is: the binary noise of its sum goes, its real digits stay."""

import random
from decimal import Decimal

import pytest

from app.domain.figures import shown


@pytest.mark.parametrize(
    ("value", "count", "printed"),
    [
        (0.1 + 0.2 + 0.3, 3, "0.6"),
        (0.012345 + 0.170162, 2, "0.182507"),
        ((100.1 * 0.1 + 100.2 * 0.2 + 100.4 * 0.3) / (0.1 + 0.2 + 0.3), 3, "100.283333333333"),
        ((100.0 + 200.0 + 1e12) / 3, 3, "333333333433.333"),
        (None, 0, "None"),
    ],
)
def test_a_figure_of_few_terms_keeps_fifteen_digits_and_loses_the_noise(
    value: float | None, count: int, printed: str
) -> None:
    assert repr(shown(value, count)) == printed


def test_a_sum_of_many_decimal_quantities_prints_as_their_exact_decimal_sum() -> None:
    rng = random.Random(24)
    for n in (10, 1_000, 100_000):
        quantities = [f"{rng.randrange(1, 10**8) / 10**8:.8f}" for _ in range(n)]
        exact = sum(Decimal(q) for q in quantities)
        assert Decimal(repr(shown(sum(float(q) for q in quantities), n))) == exact, n
