"""Schema migrations, applied in order and recorded in ``schema_migrations``.

``market_data`` has the columns of the product spec plus ``sample_count``,
which lets averages over several minutes be weighted. Its primary key is
the unique (pair_name, exchange, timestamp). ``market_data_batches`` records
each applied batch id so a retried write is recognised and skipped.
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
