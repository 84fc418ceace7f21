"""Fault injection: Redis and PostgreSQL killed, paused and restarted under a known tick stream.

Each scenario runs its own throwaway servers, feeds a known stream over TCP,
breaks something in the middle, keeps asking the API throughout, and checks
afterwards that every minute in PostgreSQL equals what was fed (exact count,
min, max, mean), with no gap and no duplicate. Figures go to
artifacts/fault-record.json for the README.
"""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from app.adapters.redis.keys import RedisKeys
from app.adapters.spool.file_spool import FileSpool
from tests.support.net import LineExchange, free_port, wait_for
from tests.support.service import Service
from tests.support.throwaway import PostgresServer, RedisServer
from tests.support.tick_plan import PlannedTick, expected_rows, plan, record, rows_match, stored_rows


class Prober:
    """Asks the API over and over from a thread; counts answers and the slowest one."""

    def __init__(self, service: Service, paths: list[str]) -> None:
        self._service, self._paths = service, paths
        self.answered = self.failed = 0
        self.slowest = 0.0
        self.bad: list[tuple[str, int, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in self._paths:
                started = time.monotonic()
                try:
                    status, body = self._service.get(path)
                except OSError as exc:
                    status, body = 0, {"error": str(exc)}
                self.slowest = max(self.slowest, time.monotonic() - started)
                if status == 200:
                    self.answered += 1
                else:
                    self.failed += 1
                    self.bad.append((path, status, body))
            time.sleep(0.05)

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


OUTAGE_SECONDS = 3.0
PROBES = [
    "/prices/latest/BTCUSDT",
    "/prices/average/exchange1/BTCUSDT?period=5m",
    "/prices/highest/ETHUSDT?period=5m",
    "/prices/lowest/BTCUSDT?period=1h",
    "/health",
]


@pytest.fixture
def feed() -> Iterator[LineExchange]:
    exchange = LineExchange()
    yield exchange
    exchange.close()


def fault_config(feed: LineExchange, redis_url: str, dsn: str, spool: Path) -> dict:
    return {
        "mode": "live",
        "redis": {"url": redis_url, "socket_timeout": 0.3, "retry_after": 0.5},
        "postgres": {"dsn": dsn, "connect_timeout": 1, "statement_timeout_ms": 1000, "retry_after": 0.5},
        "aggregator": {"close_grace_seconds": 0.5, "flush_interval_seconds": 0.2, "spool_path": str(spool)},
        # A crashed service's feed is free again after this; a restarted one may take it then.
        "leases": {"ttl_seconds": 3.0},
        "sources": {"live": {"tcp": [{"name": "exchange1", "port": feed.port}], "websocket": []}},
    }


def send(service: Service, feed: LineExchange, ticks: list[PlannedTick], total: int) -> None:
    """Feed ``ticks`` and wait until the pipeline has taken ``total`` ticks and sealed them all."""
    feed.send(*(tick.line for tick in ticks))

    def settled() -> bool:
        health = service.get("/health")[1]
        return health["pipeline"]["ticks"] == total and health["aggregator"]["open_minutes"] == 0

    wait_for(settled, timeout=20, message=f"{total} ticks taken and sealed")


def verify_and_record(fault: str, ticks: list[PlannedTick], dsn: str, prober: Prober | None, **extra: object) -> None:
    """Wait until PostgreSQL holds exactly the fed minutes, then write the scenario's figures."""
    expected = expected_rows(ticks, "exchange1")
    wait_for(lambda: rows_match(expected, stored_rows(dsn)), timeout=30, message="minute rows equal to what was fed")
    figures: dict[str, object] = {"ticks_fed": len(ticks), **extra}
    figures |= {"rows_expected": len(expected), "rows_found": len(stored_rows(dsn))}
    if prober is not None:
        figures |= {
            "requests_during_outage": prober.answered + prober.failed,
            "answered_200": prober.answered,
            "slowest_s": round(prober.slowest, 3),
        }
    record(fault, **figures)


def ticks_in_redis(url: str) -> int:
    client = redis.Redis.from_url(url)
    return sum(client.zcard(key) for key in client.scan_iter(RedisKeys("mf", False).ticks_pattern("exchange1")))


def answers(service: Service) -> bool:
    """Every probe answered, by whichever worker takes it."""
    return all(service.get(path)[0] == 200 for path in PROBES)


def average_count(service: Service) -> int:
    status, body = service.get("/prices/average/exchange1/BTCUSDT?period=5m")
    return body["count"] if status == 200 else 0


def test_redis_killed_mid_stream_then_back(
    tmp_path: Path, pg_dsn: str, pg: object, feed: LineExchange, start_service: Callable[[dict], Service]
) -> None:
    ticks = plan(300)
    btc = sum(1 for t in ticks if t.symbol == "BTCUSDT")
    cache = RedisServer().start()
    service = start_service(fault_config(feed, cache.url, pg_dsn, tmp_path / "spool.jsonl"))
    feed.wait_connected()
    send(service, feed, ticks[:100], 100)
    # Taken is not yet written: only the ticks read during the outage may fail to reach Redis.
    wait_for(lambda: service.get("/health")[1]["pipeline"]["cached"] == 100, message="first ticks in Redis")

    cache.kill()
    with Prober(service, PROBES) as prober:
        send(service, feed, ticks[100:200], 200)
        health = service.get("/health")[1]
        assert (health["status"], health["redis"]["status"]) == ("degraded", "down")
        assert health["pipeline"]["cache_consistent"] is False
        # From the in-process window: complete, Redis or not.
        assert average_count(service) == sum(1 for t in ticks[:200] if t.symbol == "BTCUSDT")
        time.sleep(OUTAGE_SECONDS)
    assert prober.failed == 0, prober.bad[:3]

    cache.start()  # same port, empty: the service reconnects and writes the window back
    wait_for(lambda: service.get("/health")[1]["pipeline"]["cache_consistent"], timeout=15, message="write-back")
    send(service, feed, ticks[200:], 300)
    wait_for(lambda: average_count(service) == btc, message="all BTC ticks queryable")
    assert ticks_in_redis(cache.url) == 300
    verify_and_record("Redis killed (SIGKILL) mid-stream, restarted empty", ticks, pg_dsn, prober)
    assert service.get("/health")[1]["pipeline"]["drops"] == {"ingest": 0, "cache_write_failed": 100}
    cache.kill()


def test_postgres_killed_and_the_service_crashes_during_the_outage(
    tmp_path: Path, redis_prefix: str, feed: LineExchange, start_service: Callable[[dict], Service]
) -> None:
    ticks = plan(300)
    db = PostgresServer().start()
    try:
        from tests.conftest import REDIS_URL

        config = fault_config(feed, REDIS_URL, db.dsn, tmp_path / "spool.jsonl")
        config["redis"]["key_prefix"] = redis_prefix
        first = start_service(config)
        feed.wait_connected()
        send(first, feed, ticks[:100], 100)
        wait_for(lambda: first.get("/health")[1]["aggregator"]["unsent_batches"] == 0, message="written")

        db.kill()
        with Prober(first, PROBES) as prober:
            send(first, feed, ticks[100:200], 200)
            wait_for(lambda: first.get("/health")[1]["postgres"]["status"] == "down", message="postgres down")
            assert first.get("/health")[1]["aggregator"]["unsent_batches"] > 0
            status, body = first.get("/prices/lowest/BTCUSDT?period=1h")
            assert (status, body["partial"]) == (200, True)
            time.sleep(OUTAGE_SECONDS)
        assert prober.failed == 0, prober.bad[:3]
        spooled = first.get("/health")[1]["aggregator"]["unsent_batches"]

        first.crash()  # kill -9 while the sealed minutes exist only in the spool
        db.start()
        second = start_service(config)
        wait_for(lambda: second.get("/health")[1]["aggregator"]["unsent_batches"] == 0, message="spool adopted")
        wait_for(lambda: feed.connections == 2, message="the feed taken once the dead service's lease lapsed")
        send(second, feed, ticks[200:], 100)

        verify_and_record(
            "PostgreSQL killed (SIGKILL) mid-stream; service kill -9 during the outage; both restarted",
            ticks,
            db.dsn,
            prober,
            batches_spooled_at_crash=spooled,
        )
        assert FileSpool(tmp_path / "spool.jsonl", 1 << 20, "check").pending() == []  # nothing left to adopt
    finally:
        db.destroy()


def test_hung_redis_and_postgres_never_hang_the_api(
    tmp_path: Path, feed: LineExchange, start_service: Callable[[dict], Service]
) -> None:
    ticks = plan(200)
    cache, db = RedisServer().start(), PostgresServer().start()
    try:
        service = start_service(fault_config(feed, cache.url, db.dsn, tmp_path / "spool.jsonl"))
        feed.wait_connected()
        send(service, feed, ticks[:100], 100)
        cache.pause()
        db.pause()
        with Prober(service, PROBES) as prober:
            send(service, feed, ticks[100:], 200)
            time.sleep(OUTAGE_SECONDS)
        assert prober.failed == 0, prober.bad[:3]
        # A silent server costs one deadline (Redis 0.3 s; PostgreSQL 1 s + 1 s + 1 s), then fails fast.
        assert prober.slowest < 4.5  # 3.3 s of deadlines plus scheduling slack on a shared machine
        health = service.get("/health")[1]
        assert (health["redis"]["status"], health["postgres"]["status"]) == ("down", "down")
        assert health["pipeline"]["drops"]["ingest"] == 0
        cache.resume()
        db.resume()
        verify_and_record("Redis and PostgreSQL hung (SIGSTOP) mid-stream, then resumed", ticks, db.dsn, prober)
        wait_for(lambda: service.get("/health")[1]["status"] == "ok", timeout=15, message="healthy again")
    finally:
        cache.resume()
        cache.kill()
        db.destroy()


def test_a_single_host_started_with_nothing_reachable_reads_at_once_and_heals_when_they_appear(
    tmp_path: Path, feed: LineExchange, start_service: Callable[[dict], Service]
) -> None:
    """``leases.single_host``: with neither store answering, the host's workers still read the feed (one of
    them, by a lock file) into memory and the spool; Redis then PostgreSQL appear, and every tick is stored
    once. (Two hosts without it read nothing until a store answers: tests/e2e/test_scale_out_e2e.py.)"""
    ticks = plan(200)
    cache, db = RedisServer(free_port()), PostgresServer(free_port())  # not started yet
    try:
        config = fault_config(feed, cache.url, db.dsn, tmp_path / "spool.jsonl")
        service = start_service(config | {"http": {"workers": 2}, "leases": {"ttl_seconds": 3.0, "single_host": True}})
        feed.wait_connected()
        health = service.get("/health")[1]
        assert (health["status"], health["redis"]["status"], health["postgres"]["status"]) == (
            "degraded",
            "down",
            "down",
        )
        send(service, feed, ticks[:100], 100)  # into memory and the spool: both stores are still down
        time.sleep(OUTAGE_SECONDS)
        assert feed.connections == 1  # one worker of the two reads it
        cache.start()
        # Once the reader has written its window back, either worker answers for it.
        wait_for(lambda: all(answers(service) for _ in range(4)), timeout=10, message="written back")
        with Prober(service, PROBES) as prober:
            time.sleep(OUTAGE_SECONDS)
            assert service.get("/health")[1]["postgres"]["status"] == "down"
        assert prober.failed == 0, prober.bad[:3]
        db.start()
        wait_for(lambda: service.get("/health")[1]["status"] == "ok", timeout=20, message="healed")
        send(service, feed, ticks[100:], 200)
        assert feed.connections == 1
        verify_and_record(
            "Started with Redis and PostgreSQL unreachable (single host: read at once); Redis appears, then PostgreSQL",
            ticks,
            db.dsn,
            prober,
        )
        assert ticks_in_redis(cache.url) == 200
    finally:
        cache.kill()
        db.destroy()


def test_kill_9_replays_what_was_not_sealed_and_counts_nothing_twice(
    tmp_path: Path,
    pg_dsn: str,
    pg: object,
    redis_prefix: str,
    feed: LineExchange,
    start_service: Callable[[dict], Service],
) -> None:
    from tests.conftest import REDIS_URL

    now = int(time.time() * 1000)
    # A: a minute long past its grace, sealed at once. B: the current minute, not sealed before the crash.
    # C: more of the current minute, after the restart.
    sealed = [PlannedTick("BTCUSDT", 95_000.0 + i, now - 200_000 + i * 10) for i in range(60)]
    unsealed = [PlannedTick("BTCUSDT", 96_000.0 + i, now - 3_000 + i * 10) for i in range(60)]
    later = [PlannedTick("BTCUSDT", 97_000.0 + i, now - 2_000 + i * 10) for i in range(80)]
    config = fault_config(feed, REDIS_URL, pg_dsn, tmp_path / "spool.jsonl")
    config["redis"]["key_prefix"] = redis_prefix
    config["aggregator"] |= {"checkpoint_seconds": 600, "close_grace_seconds": 120}
    key = RedisKeys(redis_prefix, False).ticks("exchange1", "BTCUSDT")
    cached = redis.Redis.from_url(REDIS_URL)

    first = start_service(config)
    feed.wait_connected()
    feed.send(*(tick.line for tick in sealed))
    wait_for(lambda: cached.zcard(key) == 60 and first.get("/health")[1]["aggregator"]["open_minutes"] == 0)
    feed.send(*(tick.line for tick in unsealed))
    wait_for(lambda: cached.zcard(key) == 120, message="120 ticks in Redis")
    assert first.get("/health")[1]["aggregator"]["open_minutes"] >= 1
    first.crash()

    second = start_service(config)
    wait_for(lambda: feed.connections == 2, message="the feed taken once the dead service's lease lapsed")
    wait_for(lambda: second.get("/health")[1]["aggregator"]["ticks_replayed"] == 60, message="B replayed, A not")
    feed.send(*(tick.line for tick in later))
    wait_for(lambda: second.get("/health")[1]["pipeline"]["ticks"] == 80, message="C taken")
    assert second.stop() == 0
    verify_and_record(
        "Service kill -9 with one minute sealed and one not (checkpoint 600 s), restarted",
        sealed + unsealed + later,
        pg_dsn,
        None,
        replayed=60,
    )
