"""Window queries at any tick rate: service time in-process and over HTTP, and Redis memory.

    make bench
    python -m benchmarks.window_queries --rates 10,100,1000 --queries 200

For each rate (ticks/s per exchange and symbol, 3 exchanges) the last
``window.raw_seconds`` of ticks are written to Redis the way the pipeline
writes them (raw ticks plus per-second buckets), over 31 days of stored
minutes in PostgreSQL (rolled up by hour and day). Then ``average`` and
``highest`` are timed for 1s, 1m, 5m, 1h, 1d and 30d, in-process through
``PriceQueries`` and over HTTP with wrk against a real gunicorn beside
``/prices/latest``. Uses its own exchange names and Redis prefix and removes
what it wrote.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402
from psycogreen.gevent import patch_psycopg  # noqa: E402

from app.adapters.postgres.minute_store import PostgresMinuteStore  # noqa: E402
from app.adapters.redis.clients import make_client  # noqa: E402
from app.adapters.redis.keys import RedisKeys  # noqa: E402
from app.adapters.redis.tick_cache import RedisTickCache  # noqa: E402
from app.application.pipeline_stats import percentile  # noqa: E402
from app.application.price_queries import PriceQueries  # noqa: E402
from app.application.recent_window import RecentWindow  # noqa: E402
from app.application.trade_gaps import TradeGaps  # noqa: E402
from app.config.loader import load_config  # noqa: E402
from app.domain.buckets import CacheBatch  # noqa: E402
from app.domain.feed_map import FeedMap  # noqa: E402
from app.domain.market import Market  # noqa: E402
from app.domain.minutes import MinuteRow  # noqa: E402
from app.domain.period import parse_period  # noqa: E402
from app.domain.tick import Tick, minute_start  # noqa: E402
from app.domain.time_grid import MS_PER_MINUTE  # noqa: E402
from benchmarks.leftovers import forget_cached, forget_stored  # noqa: E402
from benchmarks.seeding import AsOf, bench_store, write_as_of  # noqa: E402
from benchmarks.served import serve, wrk  # noqa: E402

patch_psycopg()

EXCHANGES = ["wq-exchange1", "wq-exchange2", "wq-exchange3"]
SYMBOL = "BTCUSDT"
PERIODS = ["1s", "1m", "5m", "1h", "1d", "30d"]
STORED_DAYS = 31


class Exchanges:
    """The mode's exchanges, as the queries ask for them."""

    @staticmethod
    def exchanges() -> list[str]:
        return EXCHANGES


class EveryFeedWritten:
    """This one process writes every feed, and the cache holds all of it."""

    cache_consistent = True

    def reading_since(self, feed: str) -> int | None:
        return 0


def seed_minutes(store: PostgresMinuteStore, clock: AsOf, now_ms: int) -> int:
    last = minute_start(now_ms) - 6 * MS_PER_MINUTE
    rows = [
        MinuteRow(exchange, SYMBOL, last - i * MS_PER_MINUTE, 60, 96_000.0 + i % 50, 95_900.0, 96_100.0 + i % 7)
        for exchange in EXCHANGES
        for i in range(STORED_DAYS * 24 * 60)
    ]
    write_as_of(store, clock, rows)
    return len(rows)


class Feed:
    """Ticks at ``rate`` per exchange, written as the pipeline writes them: the history first, then live."""

    def __init__(self, cache: RedisTickCache, window: RecentWindow, rate: int) -> None:
        self._cache, self._window, self._rate = cache, window, rate
        self.seq = 0

    def _write(self, ticks: list[Tick]) -> None:
        for start in range(0, len(ticks), 2000):
            batch = ticks[start : start + 2000]
            self._window.write(batch)
            self._cache.write(CacheBatch(batch, self._window.buckets_for(batch)))

    def _ticks(self, from_ms: int, to_ms: int) -> list[Tick]:
        step = 1000 / self._rate
        ticks = []
        for i in range(int((to_ms - from_ms) / step)):
            for exchange in EXCHANGES:
                self.seq += 1
                ticks.append(
                    Tick(exchange, SYMBOL, 96_000.0 + (self.seq * 37) % 101 / 4, int(from_ms + i * step), self.seq)
                )
        return ticks

    def history(self, seconds: int) -> None:
        now = int(time.time() * 1000)
        self._write(self._ticks(now - seconds * 1000, now))
        self._last = now

    def live(self) -> None:
        """Every 20 ms, the ticks since the last write: ingestion goes on while queries are timed."""
        while True:
            gevent.sleep(0.02)
            now = int(time.time() * 1000)
            ticks = self._ticks(self._last, now)
            if ticks:
                self._write(ticks)
                self._last = ticks[-1].ts_ms + 1


def timed(action, count: int) -> tuple[float, float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return percentile(samples, 0.5) * 1000, percentile(samples, 0.99) * 1000


HTTP_PATHS = (
    "/prices/latest/BTCUSDT",
    "/prices/average/BTCUSDT?period=5m",
    "/prices/highest/BTCUSDT?period=5m",
    "/prices/average/BTCUSDT?period=30d",
)


def measure_rate(rate: int, args: argparse.Namespace, prefix: str, store: PostgresMinuteStore) -> list[tuple]:
    base = load_config()
    retention_ms = base.window.raw_seconds * 1000
    client = redis.Redis.from_url(base.redis.url)
    old = list(client.scan_iter(f"{prefix}:*"))
    if old:
        client.delete(*old)
    cache = RedisTickCache(
        make_client(base.redis, 5.0),
        make_client(base.redis, 5.0),
        RedisKeys(prefix, False),
        retention_ms,
        1.0,
        "bench",
        FeedMap(),
    )
    window = RecentWindow(retention_ms, base.window.memory_max_ticks)
    cache.mark(0, EXCHANGES)
    feed = Feed(cache, window, rate)
    feed.history(base.window.raw_seconds)
    feeder = gevent.spawn(feed.live)
    gevent.sleep(1.0)  # the feed catches up with the time the history took to write
    market = Market(base.symbols, EXCHANGES)
    queries = PriceQueries(
        market,
        Exchanges(),  # type: ignore[arg-type]
        cache,
        window,
        store,
        retention_ms,
        EveryFeedWritten(),
        EveryFeedWritten(),
        FeedMap(),
        TradeGaps(),
        base.retention.tiers(),
    )
    keys = [f"{prefix}:{kind}:{EXCHANGES[0]}:{SYMBOL}" for kind in ("ticks", "seconds")]
    memory = sum(client.memory_usage(key, samples=0) or 0 for key in keys)
    print(f"\n{rate:,} ticks/s per exchange, 3 exchanges: {feed.seq:,} ticks in Redis, more coming in")
    print(f"  Redis memory per (exchange, symbol): {memory / 2**20:.2f} MiB (raw ticks and per-second buckets)")
    rows = []
    for period in PERIODS:
        parsed = parse_period(period)
        for kind in ("average", "highest"):
            p50, p99 = timed(lambda parsed=parsed: queries.window(SYMBOL, None, parsed), args.queries)
            rows.append((rate, kind, period, p50, p99))
            print(f"  in-process {kind:8} {period:>4}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
    if args.wrk_seconds and shutil.which("wrk"):
        config = {
            "mode": "live",
            "redis": {"url": base.redis.url, "key_prefix": prefix},
            "postgres": {"dsn": base.postgres.dsn},
            "sources": {"live": {"tcp": [{"name": e, "port": 9} for e in EXCHANGES], "websocket": []}},
            "logging": {"level": "WARNING"},
        }
        with tempfile.TemporaryDirectory() as workdir:
            process, url = serve({**config, "http": {"workers": 1}}, Path(workdir), 18000 + os.getpid() % 1000)
            try:
                for path in HTTP_PATHS:
                    rps, p50, p99 = wrk(url + path, args.wrk_seconds)
                    print(f"  HTTP (wrk, 32 connections) {path:38} {rps:8,.0f} req/s  p50 {p50:>8}  p99 {p99:>8}")
            finally:
                process.terminate()
                process.wait(timeout=30)
    elif args.wrk_seconds:
        print("  wrk is not installed (apt-get install wrk): no HTTP figures")
    feeder.kill()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,100,1000", help="ticks/s per exchange and symbol, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per period and kind")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="seconds per wrk run (0: no HTTP figures)")
    args = parser.parse_args()
    base = load_config()
    prefix = f"mfwq{uuid.uuid4().hex[:6]}"
    clock = AsOf()
    store = bench_store(base, clock)
    forget_stored(base.postgres.dsn, EXCHANGES)
    seeded = seed_minutes(store, clock, int(time.time() * 1000))
    print(f"seeding {seeded:,} stored minutes ({STORED_DAYS} days, 3 exchanges)")
    rows = []
    try:
        for rate in args.rates.split(","):
            rows += measure_rate(int(rate), args, prefix, store)
    finally:
        forget_cached(base.redis.url, prefix)
        forget_stored(base.postgres.dsn, EXCHANGES)
    print("\n| ticks/s per exchange | query | period | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |")
    for rate, kind, period, p50, p99 in rows:
        print(f"| {rate:,} | {kind} | {period} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
