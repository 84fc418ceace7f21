"""What a benchmark leaves in the shared Redis and PostgreSQL, removed so the next run starts clean.

The stored minutes of the benchmark's exchanges go, and so do their feed
owners: a feed claimed by a benchmark's service keeps its lease token in
``feed_owners``, and rows written later without a newer token (as the
seeding does) would be refused.
"""

import psycopg2
import redis

STORED = ("market_data", "market_data_hourly", "market_data_daily")


def forget_stored(dsn: str, exchanges: list[str]) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for table in STORED:
            cur.execute(f"DELETE FROM {table} WHERE exchange = ANY(%s)", (exchanges,))
        # A feed is an exchange or one of its shards, ``<exchange>/<n>``.
        cur.execute("DELETE FROM feed_owners WHERE split_part(feed, '/', 1) = ANY(%s)", (exchanges,))


def forget_cached(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
