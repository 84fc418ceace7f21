from app.domain.stats import PriceStats
from app.domain.tick import Tick, minute_start


def test_stats_of_ticks() -> None:
    stats = PriceStats()
    for tick in (Tick("a", "BTCUSDT", 10.0, 1), Tick("b", "BTCUSDT", 30.0, 2), Tick("a", "BTCUSDT", 20.0, 3)):
        stats.add(tick.exchange, tick.price, tick.ts_ms)
    assert (stats.count, stats.total, stats.mean) == (3, 60.0, 20.0)
    assert (stats.low, stats.low_ts, stats.low_exchange) == (10.0, 1, "a")
    assert (stats.high, stats.high_ts, stats.high_exchange) == (30.0, 2, "b")


def test_equal_extremes_go_to_the_most_recent_whatever_the_merge_order() -> None:
    first, second = PriceStats(), PriceStats()
    first.add("a", 5.0, 100)
    second.add("b", 5.0, 200)
    for left, right in ((first, second), (second, first)):
        merged = PriceStats()
        merged.merge(left)
        merged.merge(right)
        assert (merged.high_exchange, merged.low_exchange, merged.count) == ("b", "b", 2)


def test_empty_stats_merge_is_a_no_op() -> None:
    stats = PriceStats()
    stats.add("a", 1.5, 7)
    stats.merge(PriceStats())
    assert (stats.count, stats.mean, stats.low, stats.high) == (1, 1.5, 1.5, 1.5)


def test_minute_start() -> None:
    assert minute_start(1_763_712_345_678) == 1_763_712_300_000
    assert minute_start(1_763_712_300_000) == 1_763_712_300_000


def test_volume_and_vwap_count_only_ticks_with_a_quantity_and_merge() -> None:
    left, right = PriceStats(), PriceStats()
    left.add("a", 10.0, 1, 2.0)
    left.add("a", 99.0, 2)  # no quantity: counted, but not in volume or VWAP
    assert (left.count, left.volume, left.vwap) == (2, 2.0, 10.0)
    assert (right.volume, right.vwap) == (None, None)
    right.add("b", 20.0, 3)
    right.merge(left)
    assert (right.volume, right.vwap) == (2.0, 10.0)
    more = PriceStats()
    more.add("b", 40.0, 4, 6.0)
    right.merge(more)
    assert (right.volume, right.vwap) == (8.0, (20.0 + 240.0) / 8.0)
