"""Partitioned history against an unpartitioned copy: flush throughput, long reads, retention, bytes per day.

    make bench
    python -m benchmarks.history_storage --pairs 200 --queries 200

Builds two databases of its own beside the configured one (dropped at the
end): one at the current schema, partitioned, and one with the same tables
unpartitioned (the schema of version 6 with the batch ledger's new key).
Both are seeded alike with SQL ``generate_series``: minutes for the whole
minutes' retention (35 days by default: ``--pairs`` x 50,400 rows, 10
million and more at the default 200 pairs), hours and days for 400 days.
Then, on each: the minute flush through ``PostgresMinuteStore.write``
(rows/s), the stored part of ``average?period=30d`` and ``366d`` and 1,000
1h candles through the store methods the query services use, with the rows
``domain.retention.cover`` plans (p50/p99 over random pairs), and the time
retention takes to drop a day (a whole partition, against ``DELETE`` of the
same day's rows in the copy). Prints the tables and the bytes per (exchange,
symbol) per day of each tier.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402

import psycopg2  # noqa: E402
from psycogreen.gevent import patch_psycopg  # noqa: E402

from app.adapters.postgres import partitions  # noqa: E402
from app.adapters.postgres.calls import PostgresCalls  # noqa: E402
from app.adapters.postgres.history import PostgresHistory  # noqa: E402
from app.adapters.postgres.minute_store import PostgresMinuteStore  # noqa: E402
from app.adapters.postgres.pool import ConnectionPool  # noqa: E402
from app.adapters.postgres.schema import migrate  # noqa: E402
from app.config.loader import load_config  # noqa: E402
from app.domain.candles import parse_interval, plan_candles  # noqa: E402
from app.domain.minutes import MinuteBatch, MinuteRow  # noqa: E402
from app.domain.retention import Retention, cover  # noqa: E402
from app.domain.rollup import GRAINS  # noqa: E402
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, floor_to  # noqa: E402
from app.domain.window import plan_window  # noqa: E402
from benchmarks.window_queries import timed  # noqa: E402

EXCHANGE = "benchex"
HISTORY_DAYS = 400
RAW_MS = 300_000
# The copy: version 6's tables as they were, with the ledger keyed as version 7 keys it (the store's claim).
PLAIN_LEDGER = """
ALTER TABLE market_data_batches ADD COLUMN newest_minute timestamptz NOT NULL DEFAULT now();
ALTER TABLE market_data_batches DROP CONSTRAINT market_data_batches_pkey;
ALTER TABLE market_data_batches ADD PRIMARY KEY (batch_id, newest_minute);
INSERT INTO schema_migrations VALUES (7);
"""
# A row per pair and instant of a grain: prices and trades that vary, all columns filled as a live feed's
# (``%%``: a modulo, among the statement's parameters).
SEED = """
INSERT INTO {table} ({columns})
SELECT 'P' || lpad(p::text, 4, '0') || 'USDT', '{exchange}', t, {values}
FROM generate_series(1, %(pairs)s) p,
     generate_series(to_timestamp(%(lo)s / 1000.0), to_timestamp(%(hi)s / 1000.0) - interval '1 ms',
                     interval '{step}') t
"""
_PRICE = "100 + p + (extract(epoch FROM t)::bigint / 60 %% 97) * 0.01"
_TRADES = f"{_PRICE} - 0.02, t + interval '250 ms', {_PRICE} + 0.03, t + interval '59 s', 1.5 + p %% 5, {_PRICE}"
MINUTE_COLUMNS = (
    "pair_name, exchange, timestamp, average_price, min_price, max_price, sample_count,"
    " open_price, open_at, close_price, close_at, volume, vwap"
)
ROLLUP_COLUMNS = (
    "pair_name, exchange, timestamp, average_price, min_price, min_at, max_price, max_at, sample_count,"
    " open_price, open_at, close_price, close_at, volume, vwap"
)
MINUTE_VALUES = f"{_PRICE}, {_PRICE} - 0.5, {_PRICE} + 0.5, 20 + p %% 40, {_TRADES}"
ROLLUP_VALUES = f"{_PRICE}, {_PRICE} - 2, t, {_PRICE} + 2, t, 20 * 60 + p, {_TRADES}"


def on_server(admin_dsn: str, *statements: str) -> None:
    """Statements outside any transaction (``CREATE DATABASE`` and ``DROP DATABASE`` need that)."""
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    admin.close()


def schema(conn: psycopg2.extensions.connection, partitioned: bool) -> None:
    if partitioned:
        migrate(conn)
        return
    migrate(conn, upto=6)
    with conn.cursor() as cur:
        cur.execute(PLAIN_LEDGER)


def seed(conn: psycopg2.extensions.connection, partitioned: bool, pairs: int, spans: dict[str, tuple[int, int]]) -> int:
    """Minutes, hours and days over their spans (a statement per day of minutes); returns the minute rows."""
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        for grain, tier in partitions.GRAIN_TIERS.items():
            lo, hi = spans[tier.name]
            if partitioned:
                partitions.create(cur, tier, lo, hi)
            minutes = grain == MS_PER_MINUTE
            sql = SEED.format(
                table=tier.table,
                columns=MINUTE_COLUMNS if minutes else ROLLUP_COLUMNS,
                exchange=EXCHANGE,
                values=MINUTE_VALUES if minutes else ROLLUP_VALUES,
                step=f"{grain // 1000} seconds",
            )
            chunk = MS_PER_DAY if minutes else hi - lo  # minutes a day per statement, the rest at once
            for start in range(lo, hi, chunk):
                cur.execute(sql, {"pairs": pairs, "lo": start, "hi": min(hi, start + chunk)})
        cur.execute("VACUUM ANALYZE")
    lo, hi = spans["minutes"]
    return pairs * (hi - lo) // MS_PER_MINUTE


def flush_rate(store: PostgresMinuteStore, pairs: int, now_ms: int, batches: int) -> float:
    """Rows/s of minute flushes: each batch a checkpoint's deltas of every pair's last five minutes."""
    rows = 0
    started = time.perf_counter()
    for n in range(batches):
        last = floor_to(now_ms, MS_PER_MINUTE) - (n % 5) * MS_PER_MINUTE
        batch = tuple(
            MinuteRow(EXCHANGE, f"P{p:04d}USDT", last - m * MS_PER_MINUTE, 3, 100.0 + p, 99.0, 101.0 + p)
            for p in range(1, pairs + 1)
            for m in range(5)
        )
        store.write(MinuteBatch(uuid.uuid4().hex, batch, n))
        rows += len(batch)
    return rows / (time.perf_counter() - started)


def queries(store: PostgresMinuteStore, kept: Retention, pairs: int, now_ms: int, count: int) -> dict[str, tuple]:
    """p50/p99 ms of the stored part of each query, for a random pair each time."""
    rng = random.Random(7)

    def pair() -> list[str]:
        return [f"P{rng.randrange(1, pairs + 1):04d}USDT"]

    def window(days: int) -> Callable[[], object]:
        plan = plan_window(now_ms, days * MS_PER_DAY, RAW_MS)
        ranges = cover(plan.stored_from_ms, plan.stored_to_ms, kept, now_ms).ranges
        return lambda: store.summarize(pair()[0], [EXCHANGE], ranges)

    hour = parse_interval("1h")
    plan = plan_candles(hour, None, now_ms, 1000, now_ms, RAW_MS)
    grains = tuple(grain for grain in GRAINS if hour.ms % grain == 0)
    ranges = cover(plan.stored_from_ms, plan.stored_to_ms, kept, now_ms, grains).ranges

    return {
        "average?period=30d": timed(window(30), count),
        "average?period=366d": timed(window(366), count),
        "1,000 1h candles": timed(lambda: store.candles(pair()[0], [EXCHANGE], hour.ms, ranges), count),
    }


def drop_a_day(dsn: str, partitioned: bool, kept: Retention, now_ms: int) -> tuple[float, int]:
    """Seconds to drop the oldest day of minutes, and the rows it held: the upkeep a day later, or DELETE."""
    oldest = floor_to(now_ms, MS_PER_DAY) - kept.minutes_days * MS_PER_DAY
    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # no transaction left open: the upkeep's DDL would wait for it
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM market_data WHERE timestamp >= to_timestamp(%s / 1000.0)"
            " AND timestamp < to_timestamp(%s / 1000.0)",
            (oldest, oldest + MS_PER_DAY),
        )
        rows = cur.fetchone()[0]
        started = time.perf_counter()
        if partitioned:
            calls = PostgresCalls(ConnectionPool(dsn, 1, 5.0, 2, 600_000), 1.0, 600)
            done = PostgresHistory(calls, kept, [EXCHANGE]).upkeep(now_ms + MS_PER_DAY)
            assert [name for tier, name in done.dropped if tier == "minutes"], done
        else:
            cur.execute("DELETE FROM market_data WHERE timestamp < to_timestamp(%s / 1000.0)", (oldest + MS_PER_DAY,))
        elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, rows


def bytes_per_pair_day(dsn: str) -> dict[str, tuple[float, float]]:
    """Per tier: bytes on disk (heap, indexes, TOAST) per row, and per (exchange, symbol) per day."""
    per_day = {}
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for grain, tier in partitions.GRAIN_TIERS.items():
            cur.execute(f"SELECT count(*) FROM {tier.table}")
            rows = cur.fetchone()[0]
            per_row = sum(partitions.sizes(cur, tier).values()) / rows
            per_day[tier.name] = (per_row, per_row * MS_PER_DAY / grain)
    conn.close()
    return per_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="(exchange, symbol) pairs seeded [200: 10M minutes]")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per case")
    parser.add_argument("--flushes", type=int, default=40, help="minute flushes timed (each: 5 minutes of every pair)")
    args = parser.parse_args()
    patch_psycopg()
    config = load_config()
    kept = config.retention.tiers()
    now_ms = int(time.time() * 1000)
    today = floor_to(now_ms, MS_PER_DAY)
    spans = {
        "minutes": (today - kept.minutes_days * MS_PER_DAY, floor_to(now_ms, MS_PER_MINUTE) - 10 * MS_PER_MINUTE),
        "hours": (today - HISTORY_DAYS * MS_PER_DAY, floor_to(now_ms, MS_PER_HOUR)),
        "days": (today - HISTORY_DAYS * MS_PER_DAY, today),
    }
    names = {True: f"mf_bench_parted_{uuid.uuid4().hex[:6]}", False: f"mf_bench_plain_{uuid.uuid4().hex[:6]}"}
    results: dict[bool, dict] = {}
    try:
        for partitioned, name in names.items():
            kind = "partitioned" if partitioned else "unpartitioned"
            on_server(config.postgres.dsn, f"CREATE DATABASE {name}")
            dsn = config.postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
            schema(conn, partitioned)
            started = time.perf_counter()
            seeded = seed(conn, partitioned, args.pairs, spans)
            print(f"{kind}: seeded {seeded:,} minute rows in {time.perf_counter() - started:.0f} s", flush=True)
            calls = PostgresCalls(ConnectionPool(dsn, 2, 5.0, 2, 600_000), 1.0, 600)
            store = PostgresMinuteStore(calls, kept)
            result = {"flush": flush_rate(store, args.pairs, now_ms, args.flushes)}
            result["queries"] = queries(store, kept, args.pairs, now_ms, args.queries)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_total_relation_size('market_data')")  # a partitioned parent: nothing
                own = cur.fetchone()[0]
                result["minutes_bytes"] = own + sum(partitions.sizes(cur, partitions.MINUTES).values())
            if partitioned:
                result["bytes"] = bytes_per_pair_day(dsn)
            result["drop"] = drop_a_day(dsn, partitioned, kept, now_ms)
            conn.close()
            results[partitioned] = result
    finally:
        for name in names.values():
            on_server(config.postgres.dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    parted, plain = results[True], results[False]
    print(f"\n{args.pairs} pairs, {seeded:,} minute rows, hours and days for {HISTORY_DAYS} days\n")
    print("| measure | partitioned | unpartitioned |\n| --- | --- | --- |")
    print(f"| minute flush (rows/s) | {parted['flush']:,.0f} | {plain['flush']:,.0f} |")
    for query, (p50, p99) in parted["queries"].items():
        q50, q99 = plain["queries"][query]
        print(f"| {query}, p50 / p99 ms | {p50:.2f} / {p99:.2f} | {q50:.2f} / {q99:.2f} |")
    (drop_s, rows), (delete_s, _) = parted["drop"], plain["drop"]
    print(f"| retention of a day ({rows:,} minute rows) | {drop_s:.3f} s (DROP) | {delete_s:.3f} s (DELETE) |")
    mib = 2**20
    print(f"| minutes on disk | {parted['minutes_bytes'] / mib:,.0f} MiB | {plain['minutes_bytes'] / mib:,.0f} MiB |")
    print("\n| tier | bytes per row | bytes per (exchange, symbol) per day |\n| --- | --- | --- |")
    for tier, (per_row, per_day) in parted["bytes"].items():
        print(f"| {tier} | {per_row:,.0f} | {per_day:,.0f} |")


if __name__ == "__main__":
    main()
