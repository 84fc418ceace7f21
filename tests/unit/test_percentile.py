import pytest

from app.domain.percentile import percentiles


def percentile(samples: list, fraction: float) -> object:
    """One fraction's answer."""
    (answer,) = percentiles(samples, fraction)
    return answer


def test_nothing_to_rank_has_no_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile((), 0.99) is None


@pytest.mark.parametrize(
    ("samples", "fraction", "expected"),
    [
        ([7], 0.5, 7),
        ([7], 0.99, 7),
        ([3, 1, 2], 0.5, 2),  # unsorted in, sorted ranks
        ([4, 1, 3, 2], 0.5, 3),  # even count: the upper median
        ([4, 1, 3, 2], 0.0, 1),
        ([4, 1, 3, 2], 1.0, 4),  # the rank is kept below the count
        (list(range(99)), 0.99, 98),  # up to 100 samples: p99 is the largest
        (list(range(100)), 0.99, 99),
        (list(range(101)), 0.99, 99),
        (list(range(1000)), 0.99, 990),
        ([-5, 10, -20], 0.5, -5),  # skews run either way
        ([0.25, 0.001, 0.004], 0.5, 0.004),
    ],
)
def test_percentile_is_the_sample_at_its_rank(samples: list[float], fraction: float, expected: float) -> None:
    assert percentile(samples, fraction) == expected


def test_the_answer_keeps_the_samples_type() -> None:
    assert type(percentile([1, 2, 3], 0.5)) is int
    assert type(percentile([1.0, 2.0], 0.5)) is float


def test_several_fractions_are_answered_from_one_ranking() -> None:
    assert percentiles([4, 1, 3, 2], 0.5, 0.0, 1.0) == (3, 1, 4)
    assert percentiles([], 0.5, 0.99) == (None, None)
