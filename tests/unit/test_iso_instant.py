import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.candles import MAX_INSTANT_MS
from app.domain.iso_instant import iso_ms


@pytest.mark.parametrize(
    ("ts_ms", "text"),
    [
        (1_795_256_130_123, "2026-11-21T10:15:30.123Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1000, "1970-01-01T00:00:01.000Z"),
        (59_999, "1970-01-01T00:00:59.999Z"),
        (86_400_000, "1970-01-02T00:00:00.000Z"),
        # Before the epoch, as the tests' odd instants are: the millisecond counts forward from the second before.
        (-1, "1969-12-31T23:59:59.999Z"),
        (-999, "1969-12-31T23:59:59.001Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (-1500, "1969-12-31T23:59:58.500Z"),
        # The last instant a candle request may name: exact, where a float of seconds was a millisecond short.
        (MAX_INSTANT_MS, "9999-12-31T23:59:59.999Z"),
        (8_591_042_658_005, "2242-03-29T08:44:18.005Z"),
        # Four-digit years all the way down, as ISO 8601 wants.
        (-30_610_224_000_001, "0999-12-31T23:59:59.999Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    ],
)
def test_an_instant_is_written_in_utc_to_the_millisecond(ts_ms: int, text: str) -> None:
    assert iso_ms(ts_ms) == text


@given(st.integers(0, MAX_INSTANT_MS))
def test_every_millisecond_a_request_can_name_is_written_as_the_c_library_reads_it(ts_ms: int) -> None:
    seconds, milliseconds = divmod(ts_ms, 1000)
    assert iso_ms(ts_ms) == f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{milliseconds:03d}Z"
