"""Window answers, in-process: exact for every period form, long periods over stored minutes, and a Redis
that restarted empty in the middle of the stream. (Through gunicorn the same queries are checked by
tests/e2e/test_prices_e2e.py.)"""

import random
import time
from collections.abc import Callable
from datetime import datetime

import gevent
import psycopg2
import redis

from app.adapters.feeds.wire_line import encode_line
from app.domain.minutes import MinuteBatch, MinuteRow
from app.domain.tick import minute_start
from app.domain.time_grid import MS_PER_MINUTE
from tests.support.fakes import SEQ, Clock
from tests.support.net import LineExchange, wait_for
from tests.support.service import ServiceUnderTest
from tests.support.stores import pg_store
from tests.support.throwaway import RedisServer

RETENTION_MS = 60_000  # the tests' window.raw_seconds
Fed = tuple[str, float, int]  # exchange, price, ts


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def feed(exchanges: list[LineExchange], ticks: list[Fed]) -> None:
    for i, exchange in enumerate(exchanges, start=1):
        lines = [encode_line("BTCUSDT", price, ts) for name, price, ts in ticks if name == f"exchange{i}"]
        if lines:
            exchange.send(*lines)


def settled(service: ServiceUnderTest, total: int) -> None:
    def done() -> bool:
        health = service.get("/health")[1]
        aggregator = health["aggregator"]
        return health["pipeline"]["cached"] >= total and not aggregator["open_minutes"] + aggregator["unsent_batches"]

    wait_for(done, timeout=20, message=f"{total} ticks cached and sealed")


def check(service: ServiceUnderTest, ticks: list[Fed], path: str, exchange: str | None = None) -> dict:
    """The answer at ``path`` equals brute force over the fed ticks in the span it says it covers."""
    status, body = service.get(path)
    lo, hi = ms(body["from"]), ms(body["to"])
    mine = [(e, p, ts) for e, p, ts in ticks if lo <= ts <= hi and exchange in (None, e)]
    assert status == 200, body
    assert "partial" not in body, body
    if "/average/" in path:
        assert body["count"] == len(mine), (path, body)
        assert abs(body["price"] - sum(p for _, p, _ in mine) / len(mine)) < 1e-9
    else:
        pick = max if "/highest/" in path else min
        best = pick(p for _, p, _ in mine)
        when = max(ts for _, p, ts in mine if p == best)  # ties go to the newer tick
        where = {e for e, p, ts in mine if p == best and ts == when}
        assert (body["price"], ms(body["timestamp"])) == (best, when), (path, body)
        assert body["exchange"] in where
    return body


def connected(service: ServiceUnderTest, exchanges: list[LineExchange]) -> None:
    for exchange in exchanges:
        exchange.wait_connected()
    wait_for(lambda: all(s["state"] == "connected" for s in service.get("/health")[1]["sources"]), message="up")


def recent_ticks(rng: random.Random, now: int, count: int, span_ms: int) -> list[Fed]:
    """Several ticks per second, equal prices on purpose (ties), some in the same millisecond."""
    return [
        (f"exchange{rng.randrange(1, 4)}", rng.choice([100.0, 100.25, 101.0, 99.5]), now - rng.randrange(span_ms))
        for _ in range(count)
    ]


def test_every_period_form_is_exact_to_the_millisecond(
    make_config: Callable[..., dict],
    start_in_process: Callable[[dict], ServiceUnderTest],
    exchanges: list[LineExchange],
    pg: psycopg2.extensions.connection,  # no stored minute of another test may count here
) -> None:
    service = start_in_process(make_config(aggregator={"checkpoint_seconds": 0.5}))
    connected(service, exchanges)
    rng = random.Random(11)
    ticks = recent_ticks(rng, int(time.time() * 1000), 600, 50_000)
    feed(exchanges, ticks)
    settled(service, len(ticks))
    for period in ("1s", "3s", "10s", "30s", "45s", "59s", "60s", "1m"):
        for kind in ("average", "highest", "lowest"):
            check(service, ticks, f"/prices/{kind}/BTCUSDT?period={period}")
            check(service, ticks, f"/prices/{kind}/exchange2/BTCUSDT?period={period}", "exchange2")
    # Just past the retention (the band that used to lose its oldest ticks): every retained tick still counts.
    within = check(service, ticks, "/prices/average/BTCUSDT?period=60s")["count"]
    for period in ("61s", "75s", "90s", "119s", "2m", "1h", "1d"):
        assert check(service, ticks, f"/prices/average/BTCUSDT?period={period}")["count"] >= within


def test_thirty_days_read_stored_minutes_and_rollups_exactly(
    make_config: Callable[..., dict],
    start_in_process: Callable[[dict], ServiceUnderTest],
    exchanges: list[LineExchange],
    pg_dsn: str,
    pg: psycopg2.extensions.connection,
) -> None:
    now = int(time.time() * 1000)
    rng = random.Random(5)
    last = minute_start(now) - 3 * MS_PER_MINUTE
    seeded = [
        MinuteRow("exchange1", "BTCUSDT", last - i * MS_PER_MINUTE, rng.randrange(1, 20), 50.0 + i % 7, 40.0, 60.0)
        for i in range(31 * 24 * 60)
    ]
    low_minute = seeded[10 * 24 * 60]
    seeded[10 * 24 * 60] = MinuteRow("exchange1", "BTCUSDT", low_minute.minute_ms, 3, 20.0, 1.0, 30.0)
    clock = Clock(0.0)
    store = pg_store(pg_dsn, clock, call_timeout=60, statement_timeout_ms=30_000)
    for start in range(0, len(seeded), 2000):
        clock.now = seeded[start].minute_ms / 1000  # written as it would have been, when its newest minute was
        store.write(MinuteBatch(f"seed-{start}", tuple(seeded[start : start + 2000]), SEQ))
    service = start_in_process(make_config(aggregator={"checkpoint_seconds": 0.5}))
    connected(service, exchanges)
    ticks = [*recent_ticks(rng, int(time.time() * 1000), 200, 40_000), ("exchange2", 1000.0, int(time.time() * 1000))]
    feed(exchanges, ticks)
    settled(service, len(ticks))
    for period in ("30d", "366d", "7d", "25h", "90m"):
        status, body = service.get(f"/prices/average/BTCUSDT?period={period}")
        lo, hi = ms(body["from"]), ms(body["to"])
        assert lo % MS_PER_MINUTE == 0  # a long window starts at its first whole minute
        rows = [r for r in seeded if lo <= r.minute_ms]
        count = sum(r.count for r in rows) + len(ticks)
        total = sum(r.count * r.mean for r in rows) + sum(p for _, p, _ in ticks)
        assert (status, body["count"]) == (200, count), (period, body)
        assert abs(body["price"] - total / count) < 1e-9 * body["price"]
        assert lo <= hi
    lowest = service.get("/prices/lowest/BTCUSDT?period=30d")[1]
    assert (lowest["price"], ms(lowest["timestamp"]), lowest["exchange"]) == (1.0, low_minute.minute_ms, "exchange1")
    highest = service.get("/prices/highest/BTCUSDT?period=30d")[1]
    assert (highest["price"], ms(highest["timestamp"]), highest["exchange"]) == (1000.0, ticks[-1][2], "exchange2")
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM market_data_daily WHERE exchange = 'exchange1'")
        assert cur.fetchone()[0] in (31, 32)


def test_a_redis_restarted_empty_mid_stream_is_noticed_and_written_back(
    own_redis: RedisServer,
    make_config: Callable[..., dict],
    start_in_process: Callable[[dict], ServiceUnderTest],
    exchanges: list[LineExchange],
) -> None:
    # Checkpoints every 0.5 s: the open minute's ticks are sealed (``settled``) within a second.
    config = make_config(redis={"url": own_redis.url, "retry_after": 0.3}, aggregator={"checkpoint_seconds": 0.5})
    service = start_in_process(config)
    connected(service, exchanges)
    up = int(time.time() * 1000)  # the process holds everything it received after this
    gevent.sleep(2.0)
    rng = random.Random(2)
    # All newer than up + 1.5 s: a window of whole seconds back from any later moment that starts after
    # ``up`` (below) starts before them.
    ticks = recent_ticks(rng, int(time.time() * 1000), 51, 500)
    feed(exchanges, ticks)
    settled(service, len(ticks))
    own_redis.kill()
    own_redis.start()  # same port, empty, between two writes
    more = [("exchange1", 123.0, int(time.time() * 1000))]
    feed(exchanges, more)
    everything = [*ticks, *more]
    health = wait_for(
        lambda: (
            (h := service.get("/health")[1])["pipeline"]["cache_lost"] == 1 and h["pipeline"]["cache_consistent"] and h
        ),
        timeout=15,
        message="the loss noticed and the window written back",
    )
    assert health["pipeline"]["drops"]["cache_write_failed"] == 0
    members = sum(
        redis.Redis.from_url(own_redis.url).zcard(k) for k in redis.Redis.from_url(own_redis.url).keys("*:ticks:*")
    )
    assert members == len(everything)
    # Inside this process's lifetime the answer is exact again, from Redis.
    lifetime = (int(time.time() * 1000) - up) // 1000
    assert check(service, everything, f"/prices/average/BTCUSDT?period={lifetime}s")["count"] == len(everything)
    check(service, everything, f"/prices/highest/BTCUSDT?period={lifetime}s")
    # Reaching back before this process started: Redis may have lost a predecessor's ticks, and says so.
    status, body = service.get("/prices/average/BTCUSDT?period=1m")
    assert (status, body["count"], body.get("partial")) == (200, len(everything), True)
    assert "Redis lost its data" in body["partial_reason"]
