"""The Redis adapter against the machine's real Redis, in a private key space."""

import time

import pytest
import redis

from app.adapters.redis.tick_cache import RedisTickCache, make_client
from app.application.ports import SealMark, StorageUnavailable
from app.config.schema import RedisConfig
from app.domain.tick import Tick
from tests.conftest import REDIS_URL
from tests.support.net import free_port


def cache(prefix: str, retention_ms: int = 360_000, run: str = "run-a") -> RedisTickCache:
    return RedisTickCache(make_client(RedisConfig(url=REDIS_URL)), prefix, retention_ms, retry_after=0.2, run=run)


def test_ticks_and_latest_round_trip_exactly(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    c = cache(redis_prefix)
    c.write(
        [
            Tick("ex1", "BTCUSDT", 96123.45, now - 3000, 1),
            Tick("ex1", "BTCUSDT", 96123.45, now - 3000, 2),  # an equal trade is a second trade
            Tick("ex1", "BTCUSDT", 0.1 + 0.2, now - 2000, 3),
            Tick("ex2", "BTCUSDT", 1e-8, now - 1000, 4),
        ]
    )
    got = c.ticks("BTCUSDT", ["ex1", "ex2", "ex3"], now - 3000 - 1, now)
    assert got == {
        "ex1": [(now - 3000, 96123.45), (now - 3000, 96123.45), (now - 2000, 0.1 + 0.2)],
        "ex2": [(now - 1000, 1e-8)],
        "ex3": [],
    }
    assert c.ticks("BTCUSDT", ["ex1"], now - 3000, now)["ex1"] == [(now - 2000, 0.30000000000000004)]
    latest = {p.exchange: (p.price, p.ts_ms) for p in c.latest("BTCUSDT", ["ex1", "ex2", "ex3"])}
    assert latest == {"ex1": (0.30000000000000004, now - 2000), "ex2": (1e-8, now - 1000)}


def test_an_older_tick_never_replaces_the_latest_even_from_another_writer(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    c = cache(redis_prefix)
    c.write([Tick("ex1", "ETHUSDT", 2.0, now, 1)])
    c.write([Tick("ex1", "ETHUSDT", 1.0, now - 5000, 2)])
    cache(redis_prefix).write([Tick("ex1", "ETHUSDT", 3.0, now - 1, 1)])
    assert [(p.price, p.ts_ms) for p in c.latest("ETHUSDT", ["ex1"])] == [(2.0, now)]
    c.write([Tick("ex1", "ETHUSDT", 4.0, now, 3)])  # as new as the latest: the later write wins
    assert [(p.price, p.ts_ms) for p in c.latest("ETHUSDT", ["ex1"])] == [(4.0, now)]


def test_writing_the_same_ticks_again_changes_nothing(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    c = cache(redis_prefix)
    ticks = [Tick("ex1", "SOLUSDT", 180.0 + i, now - 100 * i, i) for i in range(1, 6)]
    c.write(ticks)
    c.write(ticks[2:])
    assert len(c.ticks("SOLUSDT", ["ex1"], 0, now)["ex1"]) == 5


def test_keys_are_trimmed_to_the_retention_and_expire(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    c = cache(redis_prefix, retention_ms=60_000)
    c.write([Tick("ex1", "SOLUSDT", 1.0, now - 120_000, 1), Tick("ex1", "SOLUSDT", 2.0, now - 30_000, 2)])
    raw = redis.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}:ticks:ex1:SOLUSDT"
    assert raw.zcard(key) == 1
    assert 0 < raw.pttl(key) <= 120_000


def test_a_dead_redis_fails_fast_with_storage_unavailable(redis_prefix: str) -> None:
    dead = RedisTickCache(
        make_client(RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0")), redis_prefix, 1, 5.0, run="run-a"
    )
    with pytest.raises(StorageUnavailable):
        dead.write([Tick("ex1", "BTCUSDT", 1.0, 1)])
    started = time.monotonic()
    for _ in range(100):  # the breaker is open: no connection attempts
        with pytest.raises(StorageUnavailable):
            dead.ping()
    assert time.monotonic() - started < 1.0


def test_ticks_after_a_mark_are_exactly_that_process_s_later_ticks(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    crashed, other = cache(redis_prefix, run="dead01"), cache(redis_prefix, run="live02")
    mine = [Tick("ex1", "BTCUSDT", 96_000.0 + i, now - 1000 + i, i) for i in range(1, 8_001)]
    mine.append(Tick("exchange:2", "ETHUSDT", 1e-8, now - 5, 8_001))  # odd names survive the round trip
    crashed.write(mine)
    other.write([Tick("ex1", "BTCUSDT", 1.0, now, 7_999)])  # the same seq from another process
    redis.Redis.from_url(REDIS_URL).zadd(f"{redis_prefix}:ticks:ex1:BTCUSDT", {"junk": now, "1.0:dead01:zz": now})
    found = crashed.ticks_after(SealMark("dead01", 7_998))  # more than one page of the key's members
    assert sorted(found, key=lambda t: t.seq) == mine[7_998:]
    assert other.ticks_after(SealMark("gone03", 0)) == []


def test_values_marketflow_did_not_write_are_left_out(redis_prefix: str) -> None:
    now = int(time.time() * 1000)
    c = cache(redis_prefix)
    c.write([Tick("ex1", "TONUSDT", 5.5, now - 10, 1)])
    raw = redis.Redis.from_url(REDIS_URL)
    raw.zadd(f"{redis_prefix}:ticks:ex1:TONUSDT", {"junk": now - 5})
    raw.hset(f"{redis_prefix}:latest:TONUSDT", "ex2", "garbage")
    assert c.ticks("TONUSDT", ["ex1"], 0, now)["ex1"] == [(now - 10, 5.5)]
    assert [(p.exchange, p.price) for p in c.latest("TONUSDT", ["ex1", "ex2"])] == [("ex1", 5.5)]
