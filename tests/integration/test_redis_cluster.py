"""Every Redis adapter on a real Redis Cluster (3 masters, 3 replicas), and a promotion that lost writes.

The pairs are spread over every master, so each window read, bucket write
and lease read that works here is one the cluster allowed slot by slot.
"""

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import pytest

from app.adapters.redis.clients import make_client
from app.adapters.redis.control_channel import RedisControlChannel
from app.adapters.redis.feed_leases import RedisFeedLeases
from app.adapters.redis.keys import RedisKeys
from app.adapters.redis.pair_registry import RedisPairRegistry
from app.adapters.redis.tick_cache import LOST_SINCE, RedisTickCache
from app.adapters.redis.tick_relay import RedisTickRelay
from app.application.ports.storage import StorageUnavailable
from app.application.process_report import ProcessReport
from app.config.schema import RedisConfig
from app.domain.buckets import CacheBatch
from app.domain.feed_map import FeedMap
from app.domain.minutes import SealMark
from app.domain.pair_state import LIVE, PairActivity, PairState
from app.domain.tick import Tick
from tests.conftest import REDIS_URL
from tests.integration.test_redis_tick_cache import Writer, one
from tests.support.net import free_port, wait_for
from tests.support.redis_cluster import RedisClusterServers
from tests.support.reference import reference_stats, summary

EXCHANGES = ["ex1", "ex2", "ex3"]
T = TypeVar("T")
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT", "DOGEUSDT", "XRPUSDT"]


def cluster_keys() -> RedisKeys:
    return RedisKeys(f"mfc{uuid.uuid4().hex[:8]}", True)


def cluster_cache(servers: RedisClusterServers, keys: RedisKeys, run: str = "run-a") -> RedisTickCache:
    config = RedisConfig(url=servers.url, cluster=True)
    client = make_client(config, 0.5)
    return RedisTickCache(client, make_client(config, 0.5), keys, 360_000, 0.2, run, FeedMap({"ex3": 2}))


def test_windows_buckets_latest_and_replay_on_a_cluster_equal_brute_force(redis_cluster: RedisClusterServers) -> None:
    keys = cluster_keys()
    masters = {redis_cluster.master_of(keys.ticks(ex, sym)) for ex in EXCHANGES for sym in SYMBOLS}
    assert len(masters) == 3  # the pairs are spread over every master
    writer = Writer(cluster_cache(redis_cluster, keys))
    feeds = FeedMap({"ex3": 2})
    writer.cache.mark(0, ["ex1", "ex2", *feeds.feeds_of("ex3")])
    rng = random.Random(3)
    now = int(time.time() * 1000)
    fed: list[Tick] = []
    for _ in range(20):
        batch = [
            Tick(
                ex, sym, round(rng.uniform(1, 100), 2), now - rng.randrange(0, 120_000), 0, feed=feeds.feed_of(ex, sym)
            )
            for ex in EXCHANGES
            for sym in SYMBOLS
            for _ in range(rng.randrange(1, 8))
        ]
        assert writer.write(*batch) is True
        fed.extend(batch)
    for sym in SYMBOLS:
        mine = [t for t in fed if t.symbol == sym]
        for after in (now - 120_001, now - 61_234, now - 5_555):
            read = writer.cache.window(sym, EXCHANGES, after, now)
            assert (read.lost, read.partial) == ((), ())
            assert summary(one(read.stats)) == summary(reference_stats(mine, after, now))
        newest = max(mine, key=lambda t: (t.ts_ms, t.seq))
        prices, lost = writer.cache.latest(sym, EXCHANGES)
        assert lost == ()
        assert newest.price in {p.price for p in prices}
        buckets = writer.cache.buckets(sym, EXCHANGES, 60_000, now - 180_000, now + 60_000)
        assert sum(s.count for s in buckets.buckets.values()) == len(mine)
    replayed = writer.cache.ticks_after("ex3/1", [SealMark(0, 0)])  # a scan of every master
    assert sorted(t.seq for t in replayed) == sorted(t.seq for t in fed if t.feed == "ex3/1")


def test_leases_registry_control_and_relay_on_a_cluster(redis_cluster: RedisClusterServers) -> None:
    keys = cluster_keys()
    config = RedisConfig(url=redis_cluster.url, cluster=True)
    a = RedisFeedLeases(make_client(config, 0.5), keys, "h:1", "r1", 2.0, 0.2)
    b = RedisFeedLeases(make_client(config, 0.5), keys, "h:2", "r2", 2.0, 0.2)
    feeds = ["ex1", "ex2", "ex3/0", "ex3/1"]
    tokens = [a.acquire(feed) for feed in feeds[:3]]
    assert all(tokens)
    assert b.acquire("ex1") is None
    assert b.acquire("ex3/1") is not None
    assert b.holders(feeds) == {"ex1": "h:1", "ex2": "h:1", "ex3/0": "h:1", "ex3/1": "h:2"}
    a.heartbeat(ProcessReport(id="r1"))
    b.heartbeat(ProcessReport(id="r2"))
    assert [p.id for p in a.processes()] == ["r1", "r2"]

    channel = RedisControlChannel(make_client(config, 0.5), keys, 0.2)
    relay = RedisTickRelay(make_client(config, 0.5), keys, 0.2)
    heard, relayed = [], []
    # Threads, as this process is not monkey-patched; they end when the module's cluster goes.
    for port, into in ((channel, heard), (relay, relayed)):
        threading.Thread(target=_listen, args=(port, into), daemon=True).start()
    wait_for(lambda: heard, message="the control listener subscribed (it rereads once at once)")
    channel.publish({"mode": "live"})
    assert channel.load() == {"mode": "live"}
    wait_for(lambda: len(heard) >= 2, message="the control change heard over sharded pub/sub")
    wait_for(lambda: relay.send("r9", [Tick("ex1", "BTCUSDT", 1.5, 7)]) or relayed, message="a relayed batch heard")
    assert relayed[0][0] == "r9"
    assert relayed[0][1][0].price == 1.5


def _listen(port: RedisControlChannel | RedisTickRelay, into: list) -> None:
    with contextlib.suppress(StorageUnavailable):
        port.listen(lambda *args: into.append(args))


@pytest.mark.parametrize("on_cluster", [False, True])
def test_pair_states_and_trade_counts_add_up_on_one_server_and_on_a_cluster(
    redis_cluster: RedisClusterServers, redis_prefix: str, on_cluster: bool
) -> None:
    """Thousands of pairs' counts go in one script per exchange; every publication adds to the last.

    Before the tests that kill masters: the module's cluster is whole here."""
    keys = cluster_keys() if on_cluster else RedisKeys(redis_prefix, False)
    config = RedisConfig(url=redis_cluster.url, cluster=True) if on_cluster else RedisConfig(url=REDIS_URL)
    registry = RedisPairRegistry(make_client(config, 0.5), keys, 0.2)
    symbols = [f"ALT{i:04d}USDT" for i in range(3000)]
    registry.publish(
        "ex1", {"BTCUSDT": PairState(LIVE, 5)}, {s: PairActivity(i + 1, 1000 + i) for i, s in enumerate(symbols)}
    )
    registry.publish("ex1", {}, {symbols[0]: PairActivity(4, 2000), symbols[-1]: PairActivity(1, 5000)})
    assert registry.states() == {"ex1": {"BTCUSDT": PairState(LIVE, 5)}}
    found = registry.activity("ex1", [symbols[0], symbols[1], symbols[-1], "NOPEUSDT"])
    assert found == {
        symbols[0]: PairActivity(5, 2000),
        symbols[1]: PairActivity(2, 1001),
        symbols[-1]: PairActivity(3001, 5000),
        "NOPEUSDT": PairActivity(0, None),
    }


def test_writes_a_promotion_lost_are_noticed_for_their_feeds_only(redis_cluster: RedisClusterServers) -> None:
    """The replica of the master holding ex1's pair misses a batch (stopped), then the master dies and it is
    promoted: ex1's writer notices at its next write, drops ex1's mark, and readers leave ex1 out until it
    is written back, partial from then on; ex2, on another master, is never in doubt."""
    keys = cluster_keys()
    doomed = redis_cluster.master_of(keys.ticks("ex1", "BTCUSDT"))
    other = next(s for s in SYMBOLS if redis_cluster.master_of(keys.ticks("ex2", s)) != doomed)
    writer = Writer(cluster_cache(redis_cluster, keys))
    writer.cache.mark(0, ["ex1", "ex2"])
    now = int(time.time() * 1000)
    assert writer.write(Tick("ex1", "BTCUSDT", 1.0, now - 3000, 0, feed="ex1"), Tick("ex2", other, 5.0, now - 3000, 0))
    wait_for(lambda: _replicated(redis_cluster, doomed), message="the replica caught up")
    replica = redis_cluster.replica_of(doomed)
    replica.pause()
    redis_cluster.client(doomed).client_kill_filter(_type="replica")  # what it had sent, it still gets
    assert writer.write(Tick("ex1", "BTCUSDT", 2.0, now - 2000, 0, feed="ex1"))  # only the master has it
    redis_cluster.node(doomed).kill()
    replica.resume()
    redis_cluster.wait_promoted(doomed)

    _once_answering(lambda: writer.cache.ticks_after("ex1", [SealMark(1, 0)]))  # a scan of every master
    assert writer.write(Tick("ex1", "BTCUSDT", 3.0, now - 1000, 0, feed="ex1"), Tick("ex2", other, 6.0, now)) is False
    read = _once_answering(lambda: writer.cache.window("BTCUSDT", ["ex1"], now - 5000, now))
    assert read.lost == ("ex1",)
    assert writer.cache.window(other, ["ex2"], now - 5000, now).stats["ex2"].count == 2
    for batch in writer.window.snapshot(100):  # what the cache writer does next: write back, then mark
        writer.cache.write(batch)
    writer.cache.mark(now - 2500, ["ex1", "ex2"])
    read = writer.cache.window("BTCUSDT", ["ex1"], now - 5000, now)
    assert (read.lost, read.stats["ex1"].count, read.partial) == ((), 3, (LOST_SINCE,))
    assert writer.cache.window("BTCUSDT", ["ex1"], now - 2500, now).partial == ()


def _once_answering(call: Callable[[], T]) -> T:
    """``call()`` once the client reaches the promoted replica: the first commands after a failover fail
    (the slot map is reloaded then)."""
    answers: list[T] = []

    def attempt() -> bool:
        with contextlib.suppress(StorageUnavailable):
            answers.append(call())
        return bool(answers)

    wait_for(attempt, timeout=10, message="the cluster answering again")
    return answers[0]


def _replicated(servers: RedisClusterServers, master: int) -> bool:
    info = servers.client(master).info("replication")
    return info.get("slave0", {}).get("offset") == info["master_repl_offset"]


def test_clients_built_while_no_node_answers_say_redis_is_down() -> None:
    """A service starts without Redis: its cluster clients are built on first use, which fails as Redis down."""
    config = RedisConfig(url=f"redis://127.0.0.1:{free_port()}", cluster=True)
    keys = cluster_keys()
    cache = RedisTickCache(make_client(config, 0.5), make_client(config, 0.5), keys, 360_000, 0.2, "r", FeedMap())
    leases = RedisFeedLeases(make_client(config, 0.5), keys, "h:1", "r1", 2.0, 0.2)
    for call in (
        lambda: cache.mark(0, ["ex1"]),
        lambda: cache.window("BTCUSDT", EXCHANGES, 0, 1),
        lambda: leases.acquire("ex1"),
    ):
        with pytest.raises(StorageUnavailable):
            call()


def test_a_cluster_without_quorum_fails_fast_like_a_redis_down(redis_cluster: RedisClusterServers) -> None:
    """Last in this module: two of three masters killed, no promotion can happen; every call fails at once."""
    keys = cluster_keys()
    cache = cluster_cache(redis_cluster, keys)
    cache.mark(0, ["ex1"])
    for port in redis_cluster.masters()[:2]:
        redis_cluster.node(port).kill()
    for call in (
        lambda: cache.write(CacheBatch([Tick("ex1", s, 1.0, int(time.time() * 1000)) for s in SYMBOLS], [])),
        lambda: cache.window("BTCUSDT", EXCHANGES, 0, int(time.time() * 1000)),
    ):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            call()
        assert time.monotonic() - started < 1.5
