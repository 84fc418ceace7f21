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

Version 7 range-partitions the three grains on ``timestamp`` (minutes by UTC
day, hours by month, days by year) and the batch ledger on the newest minute
of each batch (by day), so retention drops whole partitions
(``partitions.py``). ``marketflow_partitions`` creates the missing
partitions of a span, named ``<table>_p<YYYYMMDD|YYYYMM|YYYY>``: the
migration calls it for the rows it moves, the service for the days ahead.
Each table is renamed, recreated partitioned with the same columns and key,
refilled with every row as it was, and the old one dropped, in the
migration's one transaction. The ledger's key gains the batch's newest
minute (its partition key); a batch id stored before has its
``applied_at`` as that.
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

# A span's partitions, created where missing. Bounds are computed in UTC (``timestamp`` arithmetic), so a
# session's time zone can't shift a day's partition. The caller serialises calls (an advisory lock).
_PARTITIONS_FUNCTION = """
CREATE FUNCTION marketflow_partitions(parent text, unit text, from_at timestamptz, to_at timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    start timestamp := date_trunc(unit, from_at AT TIME ZONE 'UTC');
    next timestamp;
    name text;
    made integer := 0;
BEGIN
    WHILE start <= to_at AT TIME ZONE 'UTC' LOOP
        next := start + ('1 ' || unit)::interval;
        name := parent || '_p' || to_char(start, CASE unit WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM'
                                                           ELSE 'YYYY' END);
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, parent,
                           start AT TIME ZONE 'UTC', next AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
        start := next;
    END LOOP;
    RETURN made;
END $$;
"""


def _partitioned(table: str, unit: str) -> str:
    """``table`` rebuilt range-partitioned on ``timestamp`` by ``unit``, every row moved over as it is."""
    return f"""
    ALTER TABLE {table} RENAME TO {table}_unpartitioned;
    ALTER INDEX {table}_pkey RENAME TO {table}_unpartitioned_pkey;
    CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                          PRIMARY KEY (pair_name, exchange, timestamp)) PARTITION BY RANGE (timestamp);
    SELECT marketflow_partitions('{table}', '{unit}', min(timestamp), max(timestamp)) FROM {table}_unpartitioned;
    INSERT INTO {table} SELECT * FROM {table}_unpartitioned;
    DROP TABLE {table}_unpartitioned;
    """


MIGRATIONS.append(
    _PARTITIONS_FUNCTION
    + _partitioned("market_data", "day")
    + _partitioned("market_data_hourly", "month")
    + _partitioned("market_data_daily", "year")
    + """
    ALTER TABLE market_data_batches RENAME TO market_data_batches_unpartitioned;
    ALTER INDEX market_data_batches_pkey RENAME TO market_data_batches_unpartitioned_pkey;
    CREATE TABLE market_data_batches (
        batch_id      text        NOT NULL,
        newest_minute timestamptz NOT NULL,
        applied_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (batch_id, newest_minute)
    ) PARTITION BY RANGE (newest_minute);
    SELECT marketflow_partitions('market_data_batches', 'day', min(applied_at), max(applied_at))
    FROM market_data_batches_unpartitioned;
    INSERT INTO market_data_batches SELECT batch_id, applied_at, applied_at FROM market_data_batches_unpartitioned;
    DROP TABLE market_data_batches_unpartitioned;
    """
)

# Any constant works; it only has to be the same for every marketflow process.
_LOCK_KEY = 0x6D66_6D69


def version(cur: psycopg2.extensions.cursor) -> int:
    """The last migration applied (0: none)."""
    cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:
        return 0
    cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(cur.fetchone()[0])


def migrate(conn: psycopg2.extensions.connection, upto: int | None = None) -> list[int]:
    """Apply pending migrations (up to version ``upto``: a database as an older release left it, which the
    migration tests and the benchmarks' unpartitioned copy start from); returns the versions applied. Safe to
    run concurrently.

    A failure (or a greenlet killed at shutdown) leaves the lock to the session, which the caller closes: a
    statement sent after a failed or interrupted one would raise in its turn and hide why."""
    applied = []
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)")
        current = version(cur)
        for number, sql in enumerate(MIGRATIONS[:upto], start=1):
            if number <= current:
                continue
            cur.execute("BEGIN")
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
            cur.execute("COMMIT")
            applied.append(number)
        cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
