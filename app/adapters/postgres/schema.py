"""Schema migrations, applied in order and recorded in ``schema_migrations``.

``market_data`` has the columns of the product spec plus ``sample_count``,
which lets averages over several minutes be weighted. Its primary key is
the unique (pair_name, exchange, timestamp). ``market_data_batches`` records
each applied batch id so a retried write is recognised and skipped.
``market_data_hourly`` and ``market_data_daily`` roll the minutes up (same
columns, plus the start of the minute each extreme was seen in), so a long
period reads days and hours instead of every minute; version 2 builds them
from the minutes already stored. ``feed_owners`` (version 3) holds, per feed
(exchange), the newest fencing token that claimed it, its seal mark (the
lease and seq of the last batch stored) and the leases that claimed it since
(``pending``): a new owner replays exactly the ticks past the mark and those
of the pending leases. Version 4 adds what candles need to all three grains:
the open and close price with the trade time each was seen at (so deltas
merge into the exact open and close), the volume and the VWAP of the trades
that carried a quantity; all nullable (null: no such trade, or a minute
stored before version 4). Version 5 adds ``market_data.complete``: false for
a minute that trades known to be lost (a gap the exchange's history could
not fill) would have counted in. Version 6 names ``feed_owners``' key
``feed``: an exchange, or a shard of one.
"""

import psycopg2.extensions

MIGRATIONS: list[str] = [
    """
    CREATE TABLE market_data (
        pair_name     text             NOT NULL,
        exchange      text             NOT NULL,
        timestamp     timestamptz      NOT NULL,
        average_price double precision NOT NULL,
        min_price     double precision NOT NULL,
        max_price     double precision NOT NULL,
        sample_count  bigint           NOT NULL CHECK (sample_count > 0),
        PRIMARY KEY (pair_name, exchange, timestamp)
    );
    CREATE TABLE market_data_batches (
        batch_id   text        PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    """
    CREATE TABLE market_data_hourly (
        pair_name     text             NOT NULL,
        exchange      text             NOT NULL,
        timestamp     timestamptz      NOT NULL,
        average_price double precision NOT NULL,
        min_price     double precision NOT NULL,
        min_at        timestamptz      NOT NULL,
        max_price     double precision NOT NULL,
        max_at        timestamptz      NOT NULL,
        sample_count  bigint           NOT NULL CHECK (sample_count > 0),
        PRIMARY KEY (pair_name, exchange, timestamp)
    );
    CREATE TABLE market_data_daily (LIKE market_data_hourly INCLUDING ALL);
    """
    + "".join(
        f"""
    INSERT INTO {table}
    SELECT pair_name, exchange, date_trunc('{unit}', timestamp, 'UTC'),
           sum(average_price * sample_count) / sum(sample_count),
           min(min_price), (array_agg(timestamp ORDER BY min_price, timestamp DESC))[1],
           max(max_price), (array_agg(timestamp ORDER BY max_price DESC, timestamp DESC))[1],
           sum(sample_count)
    FROM market_data GROUP BY 1, 2, 3;
    """
        for table, unit in (("market_data_hourly", "hour"), ("market_data_daily", "day"))
    ),
    """
    CREATE TABLE feed_owners (
        exchange   text     PRIMARY KEY,
        token      bigint   NOT NULL,
        mark_lease bigint   NOT NULL,
        mark_seq   bigint   NOT NULL,
        pending    bigint[] NOT NULL DEFAULT '{}'
    );
    """,
    "".join(
        f"""
    ALTER TABLE {table}
        ADD COLUMN open_price  double precision,
        ADD COLUMN open_at     timestamptz,
        ADD COLUMN close_price double precision,
        ADD COLUMN close_at    timestamptz,
        ADD COLUMN volume      double precision,
        ADD COLUMN vwap        double precision;
    """
        for table in ("market_data", "market_data_hourly", "market_data_daily")
    ),
    """
    ALTER TABLE market_data ADD COLUMN complete boolean NOT NULL DEFAULT true;
    """,
    # A feed is an exchange or a shard of one: what was fenced per exchange is fenced per feed, under the same name.
    """
    ALTER TABLE feed_owners RENAME COLUMN exchange TO feed;
    """,
]

# Any constant works; it only has to be the same for every marketflow process.
_LOCK_KEY = 0x6D66_6D69


def migrate(conn: psycopg2.extensions.connection) -> list[int]:
    """Apply pending migrations; returns the versions applied. Safe to run concurrently."""
    applied = []
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)")
            cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            current = cur.fetchone()[0]
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                cur.execute("BEGIN")
                cur.execute(sql)
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                cur.execute("COMMIT")
                applied.append(version)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
