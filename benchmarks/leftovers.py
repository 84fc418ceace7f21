"""What a benchmark leaves in the shared Redis and PostgreSQL, removed so the next run starts clean.

The stored minutes of the benchmark's exchanges go, and so do their feed
owners: a feed claimed by a benchmark's service keeps its lease token in
``feed_owners``, and rows written later without a newer token (as the
seeding does) would be refused.
"""

import psycopg2

from app.adapters.redis.clients import make_client
from app.config.schema import RedisConfig

STORED = ("market_data", "market_data_hourly", "market_data_daily")


def forget_stored(dsn: str, exchanges: list[str]) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for table in STORED:
            cur.execute(f"DELETE FROM {table} WHERE exchange = ANY(%s)", (exchanges,))
        # A feed is an exchange or one of its shards, ``<exchange>/<n>``.
        cur.execute("DELETE FROM feed_owners WHERE split_part(feed, '/', 1) = ANY(%s)", (exchanges,))


def forget_cached(url: str, prefix: str, cluster: bool = False) -> None:
    """Every key of ``prefix``: on a cluster, a scan of each master, and one DEL per key (keys differ in slot)."""
    client = make_client(RedisConfig(url=url, cluster=cluster), 10.0)
    for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
        client.delete(key)
    client.close()
