from app.application.recent_window import RecentWindow
from app.domain.tick import Tick
from tests.support.fakes import Clock

M = 1_763_712_000_000  # a minute boundary


def test_a_late_tick_of_the_minute_at_the_retention_edge_still_counts_in_that_minute() -> None:
    window = RecentWindow(retention_ms=60_000, max_ticks=100, clock=Clock((M + 90_000) / 1000))  # edge: M + 30 s
    window.write([Tick("ex", "BTCUSDT", 1.0, M + 10_000, 1, 2.0), Tick("ex", "BTCUSDT", 3.0, M + 40_000, 2)])
    minute = window.buckets("BTCUSDT", ["ex"], 60_000, M, M + 60_000).buckets[M]
    assert (minute.count, minute.first, minute.last, minute.volume) == (2, 1.0, 3.0, 2.0)
    # Its second is past the edge: only the minute holds it; an older minute is not held at all.
    assert list(window.buckets("BTCUSDT", ["ex"], 1000, M, M + 60_000).buckets) == [M + 40_000]
    window.write([Tick("ex", "BTCUSDT", 5.0, M - 1, 3)])
    assert not window.buckets("BTCUSDT", ["ex"], 60_000, M - 60_000, M).buckets
