"""Candles served from PostgreSQL: 1,000 candles of 1m and 1,000 of 1h, in-process and over HTTP.

    make bench
    python -m benchmarks.candle_queries --queries 200

Seeds 42 days of stored minutes (with open, close, volume and VWAP, rolled
up by hour and day) for 3 exchanges, then times ``CandleQueries`` for spans
that lie wholly in the store (``to`` before the retention), on one exchange
and across all three, and the same requests over HTTP with wrk against a
real gunicorn (JSON and CSV). Uses the window benchmark's exchange names and
removes what it wrote.
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

from psycogreen.gevent import patch_psycopg  # noqa: E402

from app.adapters.postgres.minute_store import PostgresMinuteStore  # noqa: E402
from app.application.candle_queries import CandleQueries  # noqa: E402
from app.application.price_queries import PriceQueries  # noqa: E402
from app.application.recent_window import RecentWindow  # noqa: E402
from app.application.trade_gaps import TradeGaps  # noqa: E402
from app.config.loader import load_config  # noqa: E402
from app.domain.candles import parse_interval  # noqa: E402
from app.domain.feed_map import FeedMap  # noqa: E402
from app.domain.market import Market  # noqa: E402
from app.domain.minutes import MinuteRow  # noqa: E402
from app.domain.time_grid import MS_PER_HOUR, MS_PER_MINUTE  # noqa: E402
from benchmarks.leftovers import forget_stored  # noqa: E402
from benchmarks.seeding import AsOf, bench_store, write_as_of  # noqa: E402
from benchmarks.served import serve, wrk  # noqa: E402
from benchmarks.window_queries import EXCHANGES, SYMBOL, Exchanges, timed  # noqa: E402

patch_psycopg()

STORED_DAYS = 42  # a little over 1,000 hours
CANDLES = 1000


class NoFeedsRead:
    """No cache and no feed read here: every span asked for is stored."""

    cache_consistent = False

    def reading_since(self, feed: str) -> int | None:
        return None


def seed_minutes(store: PostgresMinuteStore, clock: AsOf, last_ms: int) -> int:
    rows = [
        MinuteRow(
            exchange,
            SYMBOL,
            minute,
            60,
            96_000.0 + i % 50,
            95_900.0,
            96_100.0 + i % 7,
            96_000.0 + i % 13,
            minute + 250,
            96_000.0 + i % 11,
            minute + 59_750,
            1.5 + i % 5,
            96_000.0 + i % 17,
        )
        for exchange in EXCHANGES
        for i in range(STORED_DAYS * 24 * 60)
        for minute in (last_ms - i * MS_PER_MINUTE,)
    ]
    write_as_of(store, clock, rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200, help="queries timed per case")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="seconds per wrk run (0: no HTTP figures)")
    args = parser.parse_args()
    base = load_config()
    retention_ms = base.window.raw_seconds * 1000
    clock = AsOf()
    store = bench_store(base, clock)
    now = int(time.time() * 1000)
    # Everything asked for lies before the retention: served from PostgreSQL alone.
    to_ms = (now - retention_ms - MS_PER_HOUR) // MS_PER_HOUR * MS_PER_HOUR
    forget_stored(base.postgres.dsn, EXCHANGES)
    started = time.perf_counter()
    seeded = seed_minutes(store, clock, to_ms - MS_PER_MINUTE)
    print(
        f"seeded {seeded:,} stored minutes ({STORED_DAYS} days, 3 exchanges) in {time.perf_counter() - started:.0f} s"
    )
    market = Market(base.symbols, EXCHANGES)
    window = RecentWindow(retention_ms, 1)
    # No cache and no feed read here: every span asked for is stored.
    queries = PriceQueries(
        market,
        Exchanges(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        window,
        store,
        retention_ms,
        NoFeedsRead(),
        NoFeedsRead(),
        FeedMap(),
        TradeGaps(),
        base.retention.tiers(),
    )
    candles = CandleQueries(queries, store, retention_ms)
    rows = []
    try:
        for text in ("1m", "1h"):
            interval = parse_interval(text)
            for exchange in (EXCHANGES[0], None):
                answer = candles.candles(SYMBOL, exchange, interval, None, to_ms, CANDLES)
                assert len(answer.candles) == CANDLES, len(answer.candles)
                assert not answer.partial, answer.partial
                p50, p99 = timed(
                    lambda i=interval, e=exchange: candles.candles(SYMBOL, e, i, None, to_ms, CANDLES), args.queries
                )
                scope = exchange or "all 3 exchanges"
                rows.append(("in-process", text, scope, f"{p50:.2f} ms", f"{p99:.2f} ms"))
                print(f"  in-process {CANDLES:,} x {text} {scope:16} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
        if args.wrk_seconds and shutil.which("wrk"):
            config = {
                "mode": "live",
                "postgres": {"dsn": base.postgres.dsn},
                "redis": {"url": base.redis.url, "key_prefix": f"mfcq{uuid.uuid4().hex[:6]}"},
                "sources": {"live": {"tcp": [{"name": e, "port": 9} for e in EXCHANGES], "websocket": []}},
                "logging": {"level": "WARNING"},
            }
            with tempfile.TemporaryDirectory() as workdir:
                process, url = serve({**config, "http": {"workers": 1}}, Path(workdir), 18000 + os.getpid() % 1000)
                try:
                    for text in ("1m", "1h"):
                        for suffix in ("", "&format=csv"):
                            path = f"/candles/{SYMBOL}?interval={text}&to={to_ms}&limit={CANDLES}{suffix}"
                            rps, p50, p99 = wrk(url + path, args.wrk_seconds)
                            kind = "CSV" if suffix else "JSON"
                            rows.append((f"HTTP {kind} ({rps:,.0f} req/s)", text, "all 3 exchanges", p50, p99))
                            print(
                                f"  HTTP (wrk, 32 connections) {path:60} {rps:8,.0f} req/s  p50 {p50:>8}  p99 {p99:>8}"
                            )
                finally:
                    process.terminate()
                    process.wait(timeout=30)
        elif args.wrk_seconds:
            print("  wrk is not installed (apt-get install wrk): no HTTP figures")
    finally:
        forget_stored(base.postgres.dsn, EXCHANGES)
    print(f"\n| served | {CANDLES:,} candles of | scope | p50 | p99 |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
