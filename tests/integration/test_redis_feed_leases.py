"""Feed leases and the process registry against the machine's real Redis, in a private key space."""

import time

import pytest
import redis

from app.adapters.redis.clients import make_client
from app.adapters.redis.feed_leases import RedisFeedLeases
from app.adapters.redis.keys import RedisKeys
from app.application.ports.storage import StorageUnavailable
from app.application.process_report import ProcessReport
from app.config.schema import RedisConfig
from tests.conftest import REDIS_URL
from tests.support.net import free_port

TTL = 0.4


def leases(prefix: str, process: str, run: str, url: str = REDIS_URL) -> RedisFeedLeases:
    return RedisFeedLeases(make_client(RedisConfig(url=url), 0.5), RedisKeys(prefix, False), process, run, TTL, 0.2)


def test_a_feed_is_held_by_one_process_until_released_or_lapsed_and_each_token_is_newer(redis_prefix: str) -> None:
    a, b = leases(redis_prefix, "h:1", "r1"), leases(redis_prefix, "h:2", "r2")
    first = a.acquire("ex1")
    assert first is not None
    assert b.acquire("ex1") is None
    assert b.renew("ex1") is False
    assert a.holders(["ex1", "ex2"]) == {"ex1": "h:1", "ex2": None}
    assert a.renew("ex1") is True

    a.release("ex1")
    second = b.acquire("ex1")
    assert second is not None
    assert second > first
    assert a.holders(["ex1"]) == {"ex1": "h:2"}
    b.release("ex2")  # never held: nothing to hand back, nothing raised

    time.sleep(TTL + 0.2)  # b stops renewing: its lease lapses by itself
    assert a.holders(["ex1"]) == {"ex1": None}
    third = a.acquire("ex1")
    assert third is not None
    assert third > second


def test_a_holder_takes_back_a_lease_the_cache_lost(redis_prefix: str) -> None:
    a, b = leases(redis_prefix, "h:1", "r1"), leases(redis_prefix, "h:2", "r2")
    assert a.acquire("ex1") is not None
    redis.Redis.from_url(REDIS_URL).delete(
        RedisKeys(redis_prefix, False).lease("ex1")
    )  # what a restart without persistence does
    assert a.renew("ex1") is True
    assert b.acquire("ex1") is None
    assert b.holders(["ex1"]) == {"ex1": "h:1"}


def test_processes_are_counted_by_their_heartbeats_and_leave_or_lapse(redis_prefix: str) -> None:
    a, b = leases(redis_prefix, "h:1", "r1"), leases(redis_prefix, "h:2", "r2")
    a.heartbeat(ProcessReport(id="h:1", run="r1", feeds=("ex1",)))
    b.heartbeat(ProcessReport(id="h:2", run="r2", feeds=("ex2", "ex3")))
    raw = redis.Redis.from_url(REDIS_URL)
    raw.set(RedisKeys(redis_prefix, False).process("zz"), b"not json")  # something marketflow did not write
    raw.set(RedisKeys(redis_prefix, False).process("yy"), b"[1]")  # JSON, but not a heartbeat
    raw.sadd(RedisKeys(redis_prefix, False).processes(), "zz", "yy")
    assert a.processes() == [
        ProcessReport(id="h:1", run="r1", feeds=("ex1",)),
        ProcessReport(id="h:2", run="r2", feeds=("ex2", "ex3")),
    ]

    b.heartbeat(ProcessReport(id="h:2", run="r2", feeds=("ex2",)))  # a new beat is read anew, not from before
    assert a.processes()[1] == ProcessReport(id="h:2", run="r2", feeds=("ex2",))

    b.leave()
    assert [p.id for p in a.processes()] == ["h:1"]

    time.sleep(TTL + 0.2)  # a stops beating: it is no longer counted, and the index forgets it
    raw.delete(RedisKeys(redis_prefix, False).process("zz"), RedisKeys(redis_prefix, False).process("yy"))
    assert a.processes() == []
    assert raw.smembers(RedisKeys(redis_prefix, False).processes()) == set()
    a.heartbeat(ProcessReport(id="h:1", run="r1"))  # back: counted again
    assert [p.id for p in b.processes()] == ["h:1"]


def test_every_call_says_the_cache_is_unavailable_when_redis_does_not_answer(redis_prefix: str) -> None:
    dead = leases(redis_prefix, "h:1", "r1", url=f"redis://127.0.0.1:{free_port()}/0")
    for call in (
        lambda: dead.acquire("ex1"),
        lambda: dead.renew("ex1"),
        lambda: dead.holders(["ex1"]),
        lambda: dead.heartbeat(ProcessReport()),
        dead.processes,
    ):
        with pytest.raises(StorageUnavailable):
            call()


class PausedAfterTaking(RedisFeedLeases):
    """Pauses between taking the lock and reading the clock, long enough for the lock to pass to another."""

    def _token(self, key: str) -> int:
        raw = redis.Redis.from_url(REDIS_URL)
        raw.set(key, b"h:2:r2")  # lapsed meanwhile, and taken by h:2
        return super()._token(key)


def test_a_token_read_after_the_lock_passed_to_another_is_not_kept(redis_prefix: str) -> None:
    paused = PausedAfterTaking(
        make_client(RedisConfig(url=REDIS_URL), 0.5), RedisKeys(redis_prefix, False), "h:1", "r1", TTL, 0.2
    )
    assert paused.acquire("ex1") is None  # its token would date after h:2's
    assert paused.holders(["ex1"]) == {"ex1": "h:2"}
