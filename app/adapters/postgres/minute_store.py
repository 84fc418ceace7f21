"""The ``MinuteStore`` port on PostgreSQL.

A batch is merged in one statement, one round trip: it claims its batch id
and, only if the claim is new, merges each row into ``market_data`` and its
hourly and daily rollups (counts add, extremes widen, averages combine
weighted by count). A window reads the fewest rows of the three grains
that cover its minutes.
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
from app.application.ports import BatchRejected, MinuteBatch, MinuteRow
from app.domain.rollup import MS_PER_DAY, MS_PER_HOUR, roll_up, stored_ranges
from app.domain.stats import PriceStats
from app.domain.tick import MS_PER_MINUTE, minute_start
from app.domain.trade_gap import TradeGap

log = logging.getLogger(__name__)
T = TypeVar("T")
# /health must answer quickly even when the server hangs.
PING_TIMEOUT = 1.0
# Batch ids only need to outlive any replay of their batch (a spool drains as soon as the
# store is back), so a week is ample; pruning runs at most once an hour, after a write.
BATCH_ID_RETENTION = "7 days"
PRUNE_EVERY_SECONDS = 3600.0

# Merging a delta into a row: counts add, extremes widen (ties to the newer minute), and the mean moves
# towards the delta's by its share of the count, which cannot overflow as a sum of price * count could.
_MEAN = (
    "average_price = m.average_price + (EXCLUDED.average_price - m.average_price) * EXCLUDED.sample_count"
    " / (m.sample_count + EXCLUDED.sample_count)"
)
_MERGE_MINUTE = f"""
    {_MEAN},
    min_price = LEAST(m.min_price, EXCLUDED.min_price),
    max_price = GREATEST(m.max_price, EXCLUDED.max_price),
    sample_count = m.sample_count + EXCLUDED.sample_count"""
_MERGE_ROLLUP = f"""
    {_MEAN},
    min_at = CASE WHEN EXCLUDED.min_price < m.min_price
                    OR (EXCLUDED.min_price = m.min_price AND EXCLUDED.min_at > m.min_at)
                  THEN EXCLUDED.min_at ELSE m.min_at END,
    min_price = LEAST(m.min_price, EXCLUDED.min_price),
    max_at = CASE WHEN EXCLUDED.max_price > m.max_price
                    OR (EXCLUDED.max_price = m.max_price AND EXCLUDED.max_at > m.max_at)
                  THEN EXCLUDED.max_at ELSE m.max_at END,
    max_price = GREATEST(m.max_price, EXCLUDED.max_price),
    sample_count = m.sample_count + EXCLUDED.sample_count"""
_COLUMNS = "pair_name, exchange, timestamp, average_price, min_price, min_at, max_price, max_at, sample_count"
_ROW = (
    "(%s::text, %s::text, to_timestamp(%s::bigint / 1000.0), %s::float8, %s::float8,"
    " to_timestamp(%s::bigint / 1000.0), %s::float8, to_timestamp(%s::bigint / 1000.0), %s::bigint)"
)
_ROLLUP_TABLES = ((MS_PER_HOUR, "market_data_hourly"), (MS_PER_DAY, "market_data_daily"))
_TABLES = {MS_PER_MINUTE: "market_data", **dict(_ROLLUP_TABLES)}


def _merge_sql(minutes: int, rollups: Sequence[int]) -> str:
    """One statement: claim the batch id and, only if the claim is new, merge minutes and rollups."""

    def upsert(table: str, columns: str, rows: int, merge: str) -> str:
        return (
            f"INSERT INTO {table} AS m ({columns}) SELECT {columns} FROM (VALUES {', '.join([_ROW] * rows)})"
            f" AS v({_COLUMNS}) WHERE EXISTS (SELECT 1 FROM claim)"
            f" ON CONFLICT (pair_name, exchange, timestamp) DO UPDATE SET {merge}"
        )

    minute_columns = "pair_name, exchange, timestamp, average_price, min_price, max_price, sample_count"
    steps = [
        "claim AS (INSERT INTO market_data_batches (batch_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING batch_id)",
        f"minutes AS ({upsert('market_data', minute_columns, minutes, _MERGE_MINUTE)} RETURNING 1)",
    ]
    for (_, table), rows in zip(_ROLLUP_TABLES[:-1], rollups[:-1], strict=True):
        steps.append(f"{table} AS ({upsert(table, _COLUMNS, rows, _MERGE_ROLLUP)} RETURNING 1)")
    last_table = _ROLLUP_TABLES[-1][1]
    return f"WITH {', '.join(steps)} {upsert(last_table, _COLUMNS, rollups[-1], _MERGE_ROLLUP)}"


def _row_params(exchange: str, symbol: str, start_ms: int, stats: PriceStats) -> tuple:
    return (symbol, exchange, start_ms, stats.mean, stats.low, stats.low_ts, stats.high, stats.high_ts, stats.count)


_SUMMARY = """
WITH w AS ({parts})
SELECT s.n, s.total, lo.min_price, lo.ts, lo.exchange, hi.max_price, hi.ts, hi.exchange
FROM (SELECT sum(sample_count) AS n, sum(average_price * sample_count) AS total FROM w) s
LEFT JOIN LATERAL (SELECT min_price, min_at AS ts, exchange FROM w
                   ORDER BY min_price, min_at DESC, exchange DESC LIMIT 1) lo
    ON true
LEFT JOIN LATERAL (SELECT max_price, max_at AS ts, exchange FROM w
                   ORDER BY max_price DESC, max_at DESC, exchange DESC LIMIT 1) hi
    ON true
"""
_MS = "(extract(epoch FROM {column}) * 1000)::bigint"
# Errors about a batch's own values (out of range, a broken constraint): the same batch fails every time.
REFUSED = (psycopg2.DataError, psycopg2.IntegrityError)


def _summary_part(grain_ms: int) -> str:
    table = _TABLES[grain_ms]
    low_at, high_at = ("timestamp", "timestamp") if grain_ms == MS_PER_MINUTE else ("min_at", "max_at")
    return (
        f"SELECT exchange, average_price, sample_count, min_price, {_MS.format(column=low_at)} AS min_at,"
        f" max_price, {_MS.format(column=high_at)} AS max_at FROM {table}"
        " WHERE pair_name = %s AND exchange = ANY(%s)"
        " AND timestamp >= to_timestamp(%s / 1000.0) AND timestamp < to_timestamp(%s / 1000.0)"
    )


def _minute_stats(row: MinuteRow) -> PriceStats:
    """A minute row as stats whose extremes carry the minute's start, as stored rows do."""
    stats = PriceStats()
    stats.count, stats.total = row.count, row.mean * row.count
    stats.low, stats.low_ts, stats.low_exchange = row.low, row.minute_ms, row.exchange
    stats.high, stats.high_ts, stats.high_exchange = row.high, row.minute_ms, row.exchange
    return stats


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
        minutes = [(r.exchange, r.symbol, r.minute_ms, _minute_stats(r)) for r in batch.rows]
        params: list[object] = [batch.batch_id]
        for exchange, symbol, minute, stats in minutes:
            params.extend((symbol, exchange, minute, stats.mean, stats.low, minute, stats.high, minute, stats.count))
        rollup_sizes = []
        for grain, _ in _ROLLUP_TABLES:
            rolled = roll_up(minutes, grain)
            rollup_sizes.append(len(rolled))
            for (exchange, symbol, start), stats in rolled.items():
                params.extend(_row_params(exchange, symbol, start, stats))
        sql = _merge_sql(len(minutes), rollup_sizes)

        def merge(cur: cursor) -> None:
            try:
                cur.execute(sql, params)
            except REFUSED as exc:  # the server is fine; this batch's values are not
                raise BatchRejected(f"{type(exc).__name__}: {exc}".strip()[:300]) from exc

        self._run(merge)
        if time.monotonic() - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            self._run(
                lambda cur: cur.execute(
                    "DELETE FROM market_data_batches WHERE applied_at < now() - %s::interval", (BATCH_ID_RETENTION,)
                )
            )

    def mark_incomplete(self, gap: TradeGap) -> None:
        """``complete = false`` on the stored minutes of ``gap``'s (exchange, symbol) that it touches."""
        self._run(
            lambda cur: cur.execute(
                "UPDATE market_data SET complete = false WHERE pair_name = %s AND exchange = %s AND complete"
                " AND timestamp >= to_timestamp(%s / 1000.0) AND timestamp <= to_timestamp(%s / 1000.0)",
                (gap.symbol, gap.exchange, minute_start(gap.from_ms), minute_start(gap.to_ms)),
            )
        )

    def summarize(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> PriceStats:
        ranges = stored_ranges(from_ms, to_ms)
        stats = PriceStats()
        if not ranges:
            return stats
        sql = _SUMMARY.replace("{parts}", " UNION ALL ".join(_summary_part(grain) for grain, _, _ in ranges))
        params: list[object] = []
        for _, lo, hi in ranges:
            params.extend((symbol, list(exchanges), lo, hi))

        def query(cur: cursor) -> tuple:
            cur.execute(sql, params)
            return cur.fetchone()

        n, total, low, low_ts, low_ex, high, high_ts, high_ex = self._run(query)
        if n:
            stats.count, stats.total = int(n), float(total)
            stats.low, stats.low_ts, stats.low_exchange = float(low), int(low_ts), low_ex
            stats.high, stats.high_ts, stats.high_exchange = float(high), int(high_ts), high_ex
        return stats

    def ping(self) -> float:
        started = time.perf_counter()
        self._run(lambda cur: cur.execute("SELECT 1"), timeout=PING_TIMEOUT)
        return time.perf_counter() - started
