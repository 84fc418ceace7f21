"""The ``MinuteStore`` port on PostgreSQL.

A batch is merged in one statement, one round trip: it claims its batch id
and, only if the claim is new, merges each row into ``market_data`` (counts
add, extremes widen, averages combine weighted by count).
"""

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import gevent
import psycopg2
from psycopg2.extensions import cursor

from app.adapters.breaker import Breaker
from app.adapters.postgres.pool import ConnectionPool
from app.adapters.postgres.schema import migrate
from app.application.ports import MinuteBatch
from app.domain.stats import PriceStats

log = logging.getLogger(__name__)
T = TypeVar("T")
# /health must answer quickly even when the server hangs.
PING_TIMEOUT = 1.0
# Batch ids only need to outlive any replay of their batch (a spool drains as soon as the
# store is back), so a week is ample; pruning runs at most once an hour, after a write.
BATCH_ID_RETENTION = "7 days"
PRUNE_EVERY_SECONDS = 3600.0

_MERGE = """
WITH claim AS (
    INSERT INTO market_data_batches (batch_id) VALUES (%s)
    ON CONFLICT DO NOTHING RETURNING batch_id
), incoming (pair_name, exchange, minute_ms, average_price, min_price, max_price, sample_count) AS (
    VALUES {rows}
)
INSERT INTO market_data AS m (pair_name, exchange, timestamp, average_price, min_price, max_price, sample_count)
SELECT pair_name, exchange, to_timestamp(minute_ms / 1000.0), average_price, min_price, max_price, sample_count
FROM incoming WHERE EXISTS (SELECT 1 FROM claim)
ON CONFLICT (pair_name, exchange, timestamp) DO UPDATE SET
    average_price = (m.average_price * m.sample_count + EXCLUDED.average_price * EXCLUDED.sample_count)
                    / (m.sample_count + EXCLUDED.sample_count),
    min_price = LEAST(m.min_price, EXCLUDED.min_price),
    max_price = GREATEST(m.max_price, EXCLUDED.max_price),
    sample_count = m.sample_count + EXCLUDED.sample_count
"""
_ROW = "(%s::text, %s::text, %s::bigint, %s::float8, %s::float8, %s::float8, %s::bigint)"

_SUMMARY = """
WITH w AS (
    SELECT exchange, (extract(epoch FROM timestamp) * 1000)::bigint AS ts, average_price, min_price,
           max_price, sample_count
    FROM market_data
    WHERE pair_name = %s AND exchange = ANY(%s)
      AND timestamp >= to_timestamp(%s / 1000.0) AND timestamp < to_timestamp(%s / 1000.0)
)
SELECT s.n, s.total, lo.min_price, lo.ts, lo.exchange, hi.max_price, hi.ts, hi.exchange
FROM (SELECT sum(sample_count) AS n, sum(average_price * sample_count) AS total FROM w) s
LEFT JOIN LATERAL (SELECT min_price, ts, exchange FROM w ORDER BY min_price, ts DESC LIMIT 1) lo ON true
LEFT JOIN LATERAL (SELECT max_price, ts, exchange FROM w ORDER BY max_price DESC, ts DESC LIMIT 1) hi ON true
"""


class PostgresMinuteStore:
    """``call_timeout`` bounds every call on our side: a server that stopped
    answering (not down, just silent) would otherwise hold the caller until TCP
    keepalives give up, and its own statement timeout can't fire."""

    def __init__(self, pool: ConnectionPool, retry_after: float, call_timeout: float) -> None:
        self._pool = pool
        self._breaker = Breaker("postgres", retry_after, (psycopg2.Error, OSError))
        self._call_timeout = call_timeout
        self._migrated = False
        self._last_prune = float("-inf")

    def _run(self, work: Callable[[cursor], T], timeout: float | None = None) -> T:
        deadline = timeout or self._call_timeout

        def attempt() -> T:
            try:
                with gevent.Timeout(deadline):
                    return connected()
            except gevent.Timeout:
                raise TimeoutError(f"no answer within {deadline:g}s") from None

        def connected() -> T:
            with self._pool.connection() as conn:
                if not self._migrated:
                    applied = migrate(conn)
                    if applied:
                        log.info("schema migrated", extra={"versions": applied})
                    self._migrated = True
                with conn.cursor() as cur:
                    return work(cur)

        return self._breaker.call(attempt)

    def write(self, batch: MinuteBatch) -> None:
        if not batch.rows:
            return

        params: list[object] = [batch.batch_id]
        for r in batch.rows:
            params.extend((r.symbol, r.exchange, r.minute_ms, r.mean, r.low, r.high, r.count))
        sql = _MERGE.replace("{rows}", ", ".join([_ROW] * len(batch.rows)))
        self._run(lambda cur: cur.execute(sql, params))
        if time.monotonic() - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            self._run(
                lambda cur: cur.execute(
                    "DELETE FROM market_data_batches WHERE applied_at < now() - %s::interval", (BATCH_ID_RETENTION,)
                )
            )

    def summarize(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> PriceStats:
        def query(cur: cursor) -> tuple:
            cur.execute(_SUMMARY, (symbol, list(exchanges), from_ms, to_ms))
            return cur.fetchone()

        n, total, low, low_ts, low_ex, high, high_ts, high_ex = self._run(query)
        stats = PriceStats()
        if n:
            stats.count, stats.total = int(n), float(total)
            stats.low, stats.low_ts, stats.low_exchange = float(low), int(low_ts), low_ex
            stats.high, stats.high_ts, stats.high_exchange = float(high), int(high_ts), high_ex
        return stats

    def ping(self) -> float:
        started = time.perf_counter()
        self._run(lambda cur: cur.execute("SELECT 1"), timeout=PING_TIMEOUT)
        return time.perf_counter() - started
