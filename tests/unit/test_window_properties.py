"""The bucket and plan math against brute force over random tick streams."""

from hypothesis import given, settings
from hypothesis import strategies as st

from app.application.recent_window import RecentWindow
from app.domain.rollup import roll_up, stored_ranges
from app.domain.stats import PriceStats
from app.domain.tick import Tick, minute_start
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, floor_to
from app.domain.window import plan_window, split_window
from tests.support.fakes import Clock
from tests.support.reference import reference_stats, summary

NOW = 1_763_712_345_678
RETENTION = 300_000

prices = st.sampled_from([99.0, 100.0, 100.5, 101.0])  # few values: ties between extremes are common
streams = st.lists(st.tuples(st.sampled_from(["ex1", "ex2"]), prices, st.integers(0, 40_000)), min_size=1, max_size=300)


def ticks_of(raw: list[tuple[str, float, int]]) -> list[Tick]:
    return [Tick(exchange, "BTCUSDT", price, NOW - age, seq) for seq, (exchange, price, age) in enumerate(raw, 1)]


@settings(max_examples=200, deadline=None)
@given(
    raw=streams,
    batch=st.integers(1, 50),
    after_age=st.integers(0, 201_000),
    span=st.integers(1, 201_000),
)
def test_seconds_plus_edge_ticks_equal_every_tick(raw: list, batch: int, after_age: int, span: int) -> None:
    """Arrival order is random, so late ticks land in seconds already aggregated."""
    ticks = ticks_of(raw)
    window = RecentWindow(RETENTION, 1_000_000, Clock(NOW / 1000))
    for start in range(0, len(ticks), batch):
        window.write(ticks[start : start + batch])
        assert all(b.stats.count for b in window.buckets_for(ticks[start : start + batch]))
    after = NOW - after_age
    to = min(NOW, after + span)
    read = window.window("BTCUSDT", ["ex1", "ex2"], after, to)
    merged = PriceStats()
    for part in read.stats.values():
        merged.merge(part)
    assert read.partial == ()
    assert summary(merged) == summary(reference_stats(ticks, after, to))
    assert summary(read.stats["ex1"]) == summary(reference_stats([t for t in ticks if t.exchange == "ex1"], after, to))


@settings(max_examples=100, deadline=None)
@given(raw=streams)
def test_a_snapshot_holds_every_second_exactly_once(raw: list) -> None:
    """What a write-back sends: each second's and minute's absolute bucket, equal to its ticks, and every raw tick."""
    ticks = ticks_of(raw)
    window = RecentWindow(RETENTION, 1_000_000, Clock(NOW / 1000))
    window.write(ticks)
    batches = list(window.snapshot(7))
    buckets = [bucket for b in batches for bucket in b.buckets]
    assert len({(b.exchange, b.grain_ms, b.start_ms) for b in buckets}) == len(buckets)
    for bucket in buckets:
        mine = [t for t in ticks if t.exchange == bucket.exchange]
        expected = reference_stats(mine, bucket.start_ms - 1, bucket.start_ms + bucket.grain_ms - 1)
        assert summary(bucket.stats) == summary(expected)
    assert {(b.exchange, b.start_ms) for b in buckets if b.grain_ms == MS_PER_MINUTE} == {
        (t.exchange, minute_start(t.ts_ms)) for t in ticks
    }
    assert sorted(t.seq for b in batches for t in b.ticks) == [t.seq for t in ticks]


def test_an_edge_through_a_second_that_lost_its_raw_ticks_says_so() -> None:
    window = RecentWindow(RETENTION, 3, Clock(NOW / 1000))
    second = NOW - NOW % 1000 - 10_000
    window.write([Tick("ex1", "BTCUSDT", 1.0 + i, second + i, i) for i in range(3)])
    window.write([Tick("ex1", "BTCUSDT", 9.0, second + 1000 + i, 10 + i) for i in range(3)])  # the cap drops the first
    whole = window.window("BTCUSDT", ["ex1"], second - 1, NOW)
    assert (whole.partial, whole.stats["ex1"].count) == ((), 6)
    assert window.window("BTCUSDT", ["ex1"], second, NOW).partial != ()
    assert window.window("BTCUSDT", ["ex1"], second + 2, NOW).partial == ()  # past the lost ticks: exact again


def answered(ticks: list[Tick], now: int, period: int) -> int:
    """How many ticks an answer counts, following the plan: recent ticks plus stored whole minutes."""
    plan = plan_window(now, period, RETENTION)
    assert plan.stored_to_ms <= plan.recent_after_ms + 1  # the two parts never overlap
    recent = sum(1 for t in ticks if plan.recent_after_ms < t.ts_ms <= now)
    stored = sum(1 for t in ticks if plan.stored_from_ms <= minute_start(t.ts_ms) < plan.stored_to_ms)
    return recent + stored


def documented_from(now: int, period: int, retention: int = RETENTION) -> int:
    """The README's rule, word for word: exact inside the retention; beyond it, from the window's first whole
    minute if it begins no later than the minute holding the retention's edge, else from the edge."""
    start, edge = now - period, now - retention
    if period <= retention:
        return start + 1
    first_whole = minute_start(start) + MS_PER_MINUTE
    return first_whole if first_whole <= minute_start(edge) else edge + 1


def documented_rule(ticks: list[Tick], now: int, period: int) -> int:
    """How many ticks the README says an answer counts: every tick from ``from`` to now."""
    first = documented_from(now, period)
    return sum(1 for t in ticks if first <= t.ts_ms <= now)


@settings(max_examples=200, deadline=None)
@given(
    ages=st.lists(st.integers(0, 20 * MS_PER_MINUTE), min_size=1, max_size=300),
    now_offset=st.integers(0, MS_PER_MINUTE - 1),
    periods=st.lists(st.integers(1, 20 * 60), min_size=2, max_size=6),
)
def test_no_period_answers_fewer_ticks_than_a_shorter_one_or_than_the_rule(
    ages: list[int], now_offset: int, periods: list[int]
) -> None:
    now = floor_to(NOW, MS_PER_MINUTE) + now_offset
    ticks = [Tick("ex1", "BTCUSDT", 1.0, now - age) for age in ages]
    counts = [answered(ticks, now, p * 1000) for p in sorted(periods)]
    assert counts == sorted(counts)
    for p in periods:
        exact = sum(1 for t in ticks if now - p * 1000 < t.ts_ms <= now)
        got = answered(ticks, now, p * 1000)
        assert got <= exact
        assert got >= documented_rule(ticks, now, p * 1000)  # never fewer than the README says...
        assert got == documented_rule(ticks, now, p * 1000)  # ...nor more: the text is the behaviour
        assert plan_window(now, p * 1000, RETENTION).covered_from_ms == documented_from(now, p * 1000)
        if p * 1000 <= RETENTION:
            assert got == exact


def test_a_period_starting_inside_the_minute_of_the_retentions_edge_counts_from_the_edge() -> None:
    """The issue's case: ``window.raw_seconds`` 60, ``period=100s`` asked at :45. The window's leading minute is
    the one holding the edge, partly before the window: its bucket can't be used, its retained ticks are."""
    now = floor_to(NOW, MS_PER_MINUTE) + 45_000
    plan = plan_window(now, 100_000, 60_000)
    assert (plan.needs_store, plan.covered_from_ms) == (False, now - 60_000 + 1)
    assert documented_from(now, 100_000, 60_000) == now - 60_000 + 1
    # 20 s later the window's first whole minute is the edge's: that minute's bucket is whole, from its start.
    later = plan_window(now + 20_000, 100_000, 60_000)
    assert later.covered_from_ms == documented_from(now + 20_000, 100_000, 60_000) == floor_to(now, MS_PER_MINUTE)


def test_periods_just_past_the_retention_keep_every_retained_tick() -> None:
    """The band that used to lose its oldest ticks (raw horizon 300 s, periods 361-419 s)."""
    now = NOW
    ticks = [Tick("ex1", "BTCUSDT", 1.0, now - age) for age in range(0, 420_000, 211)]
    within = answered(ticks, now, RETENTION)
    for seconds in range(301, 420):
        assert answered(ticks, now, seconds * 1000) >= within


@settings(max_examples=300, deadline=None)
@given(after=st.integers(0, 10**7), length=st.integers(0, 10**6))
def test_a_split_covers_the_window_exactly_once_with_few_buckets(after: int, length: int) -> None:
    to = after + length
    split = split_window(after, to)
    pieces = sorted([(lo, hi - 1) for _, lo, hi in split.whole] + [(a + 1, t) for a, t in split.edges])
    position = after + 1
    for lo, hi in pieces:
        assert lo == position
        position = hi + 1
    assert position == to + 1 or not pieces
    for grain, lo, hi in split.whole:
        assert (lo % grain, hi % grain) == (0, 0)
    buckets = sum((hi - lo) // grain for grain, lo, hi in split.whole)
    assert buckets <= length // MS_PER_MINUTE + 2 * (59 + 9)
    assert sum(-(-(t - a) // 100) + 1 for a, t in split.edges) <= 2 * 11


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0, 400 * 24 * 60), length=st.integers(0, 400 * 24 * 60))
def test_stored_ranges_cover_exactly_with_few_rows(first: int, length: int) -> None:
    lo = first * MS_PER_MINUTE
    hi = lo + length * MS_PER_MINUTE
    ranges = stored_ranges(lo, hi)
    position = lo
    rows = 0
    for grain, start, end in ranges:
        assert (start, start % grain, end % grain) == (position, 0, 0)
        assert start < end
        rows += (end - start) // grain
        position = end
    assert position == hi or not ranges
    assert rows <= 2 * 59 + 2 * 23 + length // (24 * 60) + 1


def test_rollups_merge_minutes_into_hours_and_days() -> None:
    minutes = []
    for i, (price, count) in enumerate([(10.0, 2), (30.0, 1), (20.0, 3)]):
        stats = PriceStats()
        for _ in range(count):
            stats.add("ex1", price, 0)
        minute = MS_PER_DAY + (i * 40) * MS_PER_MINUTE  # minutes 0, 40 and 80 of the day
        stats.low_ts = stats.high_ts = minute
        minutes.append(("ex1", "BTCUSDT", minute, stats))
    hours = roll_up(minutes, MS_PER_HOUR)
    assert sorted((k[2] - MS_PER_DAY) // MS_PER_HOUR for k in hours) == [0, 1]
    day = roll_up(minutes, MS_PER_DAY)[("ex1", "BTCUSDT", MS_PER_DAY)]
    assert (day.count, day.mean, day.low_ts, day.high_ts) == (6, 110.0 / 6, MS_PER_DAY, MS_PER_DAY + 40 * MS_PER_MINUTE)
