"""The Redis adapter against the machine's real Redis, in a private key space."""

import random
import time

import pytest
import redis

from app.adapters.redis.clients import make_client
from app.adapters.redis.keys import RedisKeys
from app.adapters.redis.tick_cache import EDGE_RAW_LOST, LOST_SINCE, RedisTickCache
from app.application.ports.storage import StorageUnavailable
from app.application.recent_window import RecentWindow
from app.config.schema import RedisConfig
from app.domain.buckets import CacheBatch
from app.domain.feed_map import FeedMap
from app.domain.minutes import SealMark
from app.domain.missed_trades import TradeMark
from app.domain.recent_reads import LatestPrice
from app.domain.stats import PriceStats
from app.domain.tick import Tick
from tests.conftest import REDIS_URL
from tests.support.net import free_port
from tests.support.reference import reference_stats, summary


def cache(
    prefix: str, retention_ms: int = 360_000, run: str = "run-a", url: str = REDIS_URL, feeds: FeedMap | None = None
) -> RedisTickCache:
    config = RedisConfig(url=url)
    client = make_client(config, 0.5)
    return RedisTickCache(
        client,
        make_client(config, 0.5),
        RedisKeys(prefix, False),
        retention_ms,
        retry_after=0.2,
        run=run,
        feeds=feeds or FeedMap(),
    )


class Writer:
    """What the pipeline does: the in-process window makes the buckets, the cache gets ticks and buckets."""

    def __init__(self, cache: RedisTickCache, max_ticks: int = 1_000_000) -> None:
        self.cache = cache
        self.window = RecentWindow(360_000, max_ticks)
        self.seq = 0

    def write(self, *ticks: Tick) -> bool:
        for tick in ticks:
            self.seq += 1
            tick.seq = self.seq
        self.window.write(ticks)
        return self.cache.write(CacheBatch(ticks, self.window.buckets_for(ticks)))


FEEDS = ["ex1", "ex2", "ex3"]


def marked(prefix: str, **kwargs: object) -> Writer:
    writer = Writer(cache(prefix, **kwargs))  # type: ignore[arg-type]
    writer.cache.mark(0, FEEDS)
    return writer


def one(stats: dict[str, PriceStats]) -> PriceStats:
    merged = PriceStats()
    for part in stats.values():
        merged.merge(part)
    return merged


def test_window_reads_equal_brute_force_over_random_streams(redis_prefix: str) -> None:
    rng = random.Random(7)
    now = int(time.time() * 1000)
    writer = marked(redis_prefix)
    fed: list[Tick] = []
    for _ in range(40):  # batches, some with late ticks into seconds already written
        batch = [
            Tick(
                rng.choice(["ex1", "ex2"]),
                "BTCUSDT",
                float(rng.choice([99, 100, 100.5, 101])),
                now - rng.randrange(30_000),
            )
            for _ in range(rng.randrange(1, 60))
        ]
        writer.write(*batch)
        fed.extend(batch)
    for _ in range(300):
        after = now - rng.randrange(201_000)
        to = rng.choice([now, min(now, after + rng.randrange(1, 150_000))])
        read = writer.cache.window("BTCUSDT", ["ex1", "ex2", "ex3"], after, to)
        assert read.partial == ()
        assert summary(one(read.stats)) == summary(reference_stats(fed, after, to)), (after, to)
        per_exchange = reference_stats([t for t in fed if t.exchange == "ex2"], after, to)
        assert summary(read.stats["ex2"]) == summary(per_exchange)
    assert read.stats["ex3"].count == 0


def test_latest_round_trips_exactly_and_an_older_tick_never_replaces_it(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    writer = marked(redis_prefix)
    writer.write(Tick("ex1", "ETHUSDT", 0.1 + 0.2, now, 0), Tick("ex2", "ETHUSDT", 1e-8, now - 1000, 0))
    writer.write(Tick("ex1", "ETHUSDT", 1.0, now - 5000, 0))
    marked(redis_prefix, run="run-b").write(Tick("ex1", "ETHUSDT", 3.0, now - 1, 0))
    latest = {p.exchange: (p.price, p.ts_ms) for p in writer.cache.latest("ETHUSDT", ["ex1", "ex2", "ex3"])[0]}
    assert latest == {"ex1": (0.30000000000000004, now), "ex2": (1e-8, now - 1000)}
    writer.write(Tick("ex1", "ETHUSDT", 4.0, now, 0))  # as new as the latest: the later write wins
    assert [(p.price, p.ts_ms) for p in writer.cache.latest("ETHUSDT", ["ex1"])[0]] == [(4.0, now)]


def test_the_last_trade_of_each_symbol_is_where_a_next_owner_resumes(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    writer = marked(redis_prefix)
    writer.write(
        Tick("ex1", "BTCUSDT", 96_000.5, now - 2000, 0, 0.1, "41"),
        Tick("ex1", "BTCUSDT", 96_001.5, now - 1000, 0, 0.2, "42:a"),  # an id may hold anything
        Tick("ex2", "BTCUSDT", 96_002.0, now - 500, 0, 0.3, "7"),
        Tick("ex1", "ETHUSDT", 3_500.0, now - 90_000, 0, 1.0, "9"),  # older than asked for
        Tick("ex1", "SOLUSDT", 180.0, now, 0),  # no id: nothing to resume from
    )
    found = writer.cache.last_trades("ex1", ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT"], now - 60_000)
    assert found == {"BTCUSDT": TradeMark("42:a", now - 1000)}
    assert writer.cache.last_trades("ex1", [], now) == {}
    # The id rides along without changing the latest price.
    assert writer.cache.latest("BTCUSDT", ["ex1"])[0] == [LatestPrice("ex1", 96_001.5, now - 1000)]


def test_writing_the_same_batch_again_changes_nothing(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    writer = marked(redis_prefix)
    ticks = [Tick("ex1", "SOLUSDT", 180.0 + i, now - 100 * i, 0) for i in range(1, 6)]
    writer.write(*ticks)
    batch = CacheBatch(ticks[2:], writer.window.buckets_for(ticks))
    writer.cache.write(batch)
    writer.cache.write(batch)
    stats = writer.cache.window("SOLUSDT", ["ex1"], 0, now).stats["ex1"]
    assert (stats.count, stats.total) == (5, sum(t.price for t in ticks))


def test_a_batch_of_many_pairs_and_thousands_of_ticks_per_pair_is_written_whole(redis_prefix: str) -> None:
    """One script adds a batch's raw ticks, a thousand per ZADD: none is lost past Lua's unpack limit."""
    now = int(time.time() * 1000)
    writer = marked(redis_prefix)
    ticks = [Tick("ex1", "BTCUSDT", 100.0 + i % 7, now - 9000 + i, 0) for i in range(2500)]
    ticks += [Tick(ex, f"ALT{i}USDT", 1.0 + i, now - 500, 0) for i in range(300) for ex in ("ex2", "ex3")]
    writer.write(*ticks)
    raw = redis.Redis.from_url(REDIS_URL)
    keys = RedisKeys(redis_prefix, False)
    assert raw.zcard(keys.ticks("ex1", "BTCUSDT")) == 2500
    assert [raw.zcard(keys.ticks("ex3", f"ALT{i}USDT")) for i in (0, 299)] == [1, 1]
    stats = writer.cache.window("BTCUSDT", ["ex1"], now - 10_000, now).stats["ex1"]
    assert (stats.count, stats.total) == (2500, sum(t.price for t in ticks[:2500]))


def test_two_processes_writing_the_same_second_add_up(redis_prefix: str) -> None:
    now = int(time.time() * 1000) // 1000 * 1000 - 2000
    first, second = marked(redis_prefix, run="run-a"), marked(redis_prefix, run="run-b")
    first.write(Tick("ex1", "BTCUSDT", 10.0, now + 100, 0))
    second.write(Tick("ex1", "BTCUSDT", 30.0, now + 200, 0))
    second.write(Tick("ex1", "BTCUSDT", 20.0, now + 300, 0))
    stats = first.cache.window("BTCUSDT", ["ex1"], now - 1, now + 999).stats["ex1"]
    assert (stats.count, stats.mean, stats.high_ts) == (3, 20.0, now + 200)
    split = first.cache.window("BTCUSDT", ["ex1"], now + 150, now + 999).stats["ex1"]  # the edge cuts the second
    assert (split.count, split.mean) == (2, 25.0)


def test_keys_are_trimmed_to_the_retention_and_expire(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    writer = Writer(cache(redis_prefix, retention_ms=60_000))
    writer.window = RecentWindow(3_600_000, 1000)  # holds the old tick, so it reaches the cache
    writer.write(Tick("ex1", "SOLUSDT", 1.0, now - 120_000, 0), Tick("ex1", "SOLUSDT", 2.0, now - 30_000, 0))
    raw = redis.Redis.from_url(REDIS_URL)
    for kind in ("ticks", "minutes", "seconds", "tenths"):
        key = RedisKeys(redis_prefix, False).buckets(kind, "ex1", "SOLUSDT")
        assert raw.zcard(key) == 1
        assert 0 < raw.pttl(key) <= 120_000


def test_a_feed_whose_mark_is_lost_is_noticed_by_writer_and_readers(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    writer = Writer(cache(redis_prefix))
    assert writer.write(Tick("ex1", "BTCUSDT", 1.0, now - 10, 0)) is False  # never marked yet
    writer.cache.mark(0, ["ex1", "ex2"])
    assert writer.write(Tick("ex1", "BTCUSDT", 2.0, now - 5, 0), Tick("ex2", "BTCUSDT", 7.0, now - 5, 0)) is True
    assert writer.cache.window("BTCUSDT", ["ex1"], now - 1000, now).stats["ex1"].count == 2
    redis.Redis.from_url(REDIS_URL).delete(
        RedisKeys(redis_prefix, False).mark("ex1")
    )  # what a restart without persistence does
    read = writer.cache.window("BTCUSDT", ["ex1", "ex2"], now - 1000, now)
    assert (read.lost, list(read.stats), read.stats["ex2"].count) == (("ex1",), ["ex2"], 1)
    prices, lost = writer.cache.latest("BTCUSDT", ["ex1", "ex2"])
    assert ([p.exchange for p in prices], lost) == (["ex2"], ("ex1",))
    assert writer.write(Tick("ex1", "BTCUSDT", 3.0, now, 0)) is False
    writer.cache.mark(now - 500, ["ex1"])  # written back, complete only from then on
    writer.cache.mark(0, ["ex1"])  # a mark already there is kept
    assert writer.cache.window("BTCUSDT", ["ex1"], now - 1000, now).partial == (LOST_SINCE,)
    assert writer.cache.window("BTCUSDT", ["ex1"], now - 200, now).partial == ()


def test_an_edge_second_written_back_without_its_raw_ticks_is_partial(redis_prefix: str) -> None:
    second = int(time.time() * 1000) // 1000 * 1000 - 5000
    writer = Writer(cache(redis_prefix), max_ticks=2)
    writer.cache.mark(0, FEEDS)
    writer.write(*(Tick("ex1", "BTCUSDT", 10.0 + i, second + i, 0) for i in range(3)))
    writer.write(*(Tick("ex1", "BTCUSDT", 50.0, second + 1000 + i, 0) for i in range(2)))  # caps the first second
    raw = redis.Redis.from_url(REDIS_URL)
    raw.delete(
        *(
            RedisKeys(redis_prefix, False).buckets(kind, "ex1", "BTCUSDT")
            for kind in ("ticks", "minutes", "seconds", "tenths")
        )
    )
    for batch in writer.window.snapshot(100):
        writer.cache.write(batch)
    whole = writer.cache.window("BTCUSDT", ["ex1"], second - 1, second + 2000)
    assert (whole.partial, whole.stats["ex1"].count) == ((), 5)
    cut = writer.cache.window("BTCUSDT", ["ex1"], second + 1, second + 2000)
    assert cut.partial == (EDGE_RAW_LOST,)


def test_a_dead_redis_fails_fast_with_storage_unavailable(redis_prefix: str) -> None:
    dead = cache(redis_prefix, url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StorageUnavailable):
        dead.write(CacheBatch([Tick("ex1", "BTCUSDT", 1.0, 1)], []))
    with pytest.raises(StorageUnavailable):
        dead.ping()
    started = time.monotonic()
    for _ in range(100):  # both breakers are open: no connection attempts
        with pytest.raises(StorageUnavailable):
            dead.ping()
        with pytest.raises(StorageUnavailable):
            dead.write(CacheBatch([Tick("ex1", "BTCUSDT", 1.0, 1)], []))
    assert time.monotonic() - started < 1.0


def test_a_slow_read_never_marks_redis_down_for_the_writer(redis_prefix: str) -> None:
    second = int(time.time() * 1000) // 1000 * 1000 - 2000
    config = RedisConfig(url=REDIS_URL)
    impatient = RedisTickCache(
        make_client(config, 0.5),
        make_client(config, 0.001),
        RedisKeys(redis_prefix, False),
        360_000,
        5.0,
        "run-a",
        FeedMap(),
    )
    writer = Writer(impatient)
    writer.cache.mark(0, FEEDS)
    writer.write(*(Tick("ex1", "BTCUSDT", 1.0 + i % 7, second + i % 100, 0) for i in range(60_000)))
    with pytest.raises(StorageUnavailable):  # 30,000 raw ticks of a cut tenth: longer than 1 ms
        writer.cache.window("BTCUSDT", ["ex1"], second + 49, second + 999)
    with pytest.raises(StorageUnavailable):  # the read breaker is open ...
        writer.cache.latest("BTCUSDT", ["ex1"])
    assert writer.write(Tick("ex1", "BTCUSDT", 1.0, second + 1500, 0)) is True  # ... the writer's is not


def test_ticks_after_marks_are_exactly_those_leases_later_ticks(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    crashed, other = cache(redis_prefix, run="dead01"), cache(redis_prefix, run="live02")
    # Every other tick with a quantity: it comes back with the tick (the successor's minutes need it).
    mine = [
        Tick("ex1", "BTCUSDT", 96_000.0 + i, now - 1000 + i, i, 0.5 * i if i % 2 else None, lease=0xD1)
        for i in range(1, 8_001)
    ]
    mine.append(Tick("exchange:2", "ETHUSDT", 1e-8, now - 5, 8_001, lease=0xD2))  # odd names survive the round trip
    crashed.write(CacheBatch(mine, []))
    pending = [Tick("ex1", "ETHUSDT", 5.0, now, 3, lease=0xC1)]  # a lease that claimed the feed and died at once
    other.write(CacheBatch([Tick("ex1", "BTCUSDT", 1.0, now, 7_999, lease=0x11), *pending], []))  # other leases
    redis.Redis.from_url(REDIS_URL).zadd(
        RedisKeys(redis_prefix, False).ticks("ex1", "BTCUSDT"), {"junk": now, "1.0:d1:zz": now}
    )
    marks = [SealMark(0xD1, 7_998), SealMark(0xC1, 0)]
    found = other.ticks_after("ex1", marks)  # more than one page of the key's members
    assert sorted(found, key=lambda t: t.seq) == sorted(pending + mine[7_998:8_000], key=lambda t: t.seq)
    assert crashed.ticks_after("exchange:2", [SealMark(0xD2, 7_998)]) == mine[8_000:]
    assert other.ticks_after("ex1", [SealMark(0x99, 0)]) == []


def test_values_marketflow_did_not_write_are_left_out_and_never_fail_a_write(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    writer = marked(redis_prefix)
    raw = redis.Redis.from_url(REDIS_URL)
    raw.hset(RedisKeys(redis_prefix, False).latest("TONUSDT"), mapping={"ex1": "garbage", "ex2": "garbage"})
    writer.write(Tick("ex1", "TONUSDT", 5.5, now - 10, 0))  # the foreign latest value is overwritten
    raw.zadd(RedisKeys(redis_prefix, False).ticks("ex1", "TONUSDT"), {"junk": now - 10})
    raw.zadd(RedisKeys(redis_prefix, False).buckets("tenths", "ex1", "TONUSDT"), {"junk|1|2": now - now % 100})
    read = writer.cache.window("TONUSDT", ["ex1"], now - 11, now)
    assert (read.stats["ex1"].count, read.stats["ex1"].mean) == (1, 5.5)
    assert read.partial == ()
    assert [(p.exchange, p.price) for p in writer.cache.latest("TONUSDT", ["ex1", "ex2"])[0]] == [("ex1", 5.5)]


def prices(stats: PriceStats) -> tuple:
    """What a candle shows of a bucket's prices and when its open and close were."""
    return (stats.low, stats.high, stats.first, stats.first_ts, stats.last, stats.last_ts)


def test_bucket_reads_merge_exchanges_and_processes_and_equal_the_in_process_buckets(redis_prefix: str) -> None:
    rng = random.Random(4)
    now = int(time.time() * 1000)
    first, second = marked(redis_prefix, run="run-a"), marked(redis_prefix, run="run-b")
    fed = []
    for writer in (first, second, first):
        batch = [
            Tick(
                rng.choice(["ex1", "ex2"]),
                "BTCUSDT",
                float(rng.choice([99, 100, 101])),
                now - rng.randrange(120_000),
                0,
                rng.choice([None, 0.5, 2.0]),
            )
            for _ in range(300)
        ]
        writer.write(*batch)
        fed.extend(batch)
    everything = RecentWindow(360_000, 1_000_000)
    everything.write(fed)
    for grain in (1000, 60_000):
        lo, hi = now - 100_000, now - 30_000
        read = first.cache.buckets("BTCUSDT", ["ex1", "ex2", "ex3"], grain, lo, hi)
        expected = everything.buckets("BTCUSDT", ["ex1", "ex2", "ex3"], grain, lo, hi)
        assert read.partial == ()
        assert read.buckets.keys() == expected.buckets.keys()
        assert all(start % grain == 0 and lo <= start < hi for start in read.buckets)
        for start, stats in expected.buckets.items():
            got = read.buckets[start]
            assert prices(got) == prices(stats), start
            assert got.count == stats.count
            assert abs(got.total - stats.total) < 1e-9
            assert got.volume == pytest.approx(stats.volume)
    assert not first.cache.buckets("BTCUSDT", ["ex3"], 1000, now - 100_000, now).buckets


def test_a_bucket_read_of_a_feed_without_its_mark_says_it_is_lost(redis_prefix: str) -> None:
    assert cache(redis_prefix, run="never-marked").buckets("BTCUSDT", ["ex1"], 1000, 0, 10_000).lost == ("ex1",)
    late = cache(redis_prefix, run="late")
    late.mark(int(time.time() * 1000), ["ex1"])
    read = late.buckets("BTCUSDT", ["ex1"], 1000, 0, 10_000)
    assert (read.partial, read.lost) == ((LOST_SINCE,), ())


def test_each_shard_keeps_its_own_mark_and_replays_only_its_own_symbols(redis_prefix: str) -> None:
    feeds = FeedMap({"ex1": 8})  # BTCUSDT and ETHUSDT in shard 2, SOLUSDT in shard 6
    now = int(time.time() * 1000)
    writer = Writer(cache(redis_prefix, feeds=feeds))
    writer.cache.mark(0, ["ex1/2"])
    ticks = [
        Tick("ex1", symbol, price, now - 10, lease=0xA, feed=feeds.feed_of("ex1", symbol))
        for symbol, price in (("BTCUSDT", 1.0), ("ETHUSDT", 2.0), ("SOLUSDT", 3.0))
    ]
    assert writer.write(*ticks) is False  # shard 6 had no mark: its owner must write its window back
    assert writer.cache.latest("BTCUSDT", ["ex1"]) == ([LatestPrice("ex1", 1.0, now - 10)], ())
    assert writer.cache.latest("SOLUSDT", ["ex1"]) == ([], ("ex1",))  # lost, not an empty answer
    assert writer.cache.window("SOLUSDT", ["ex1"], now - 1000, now).lost == ("ex1",)
    assert writer.cache.buckets("SOLUSDT", ["ex1"], 1000, now - 1000, now + 1000).lost == ("ex1",)
    replayed = writer.cache.ticks_after("ex1/2", [SealMark(0xA, 0)])
    assert sorted((t.symbol, t.feed) for t in replayed) == [("BTCUSDT", "ex1/2"), ("ETHUSDT", "ex1/2")]
    assert [(t.symbol, t.feed) for t in writer.cache.ticks_after("ex1/6", [SealMark(0xA, 0)])] == [("SOLUSDT", "ex1/6")]
