"""The ``MinuteStore`` port on PostgreSQL.

A batch is merged in one statement, one round trip: it claims its batch id
and, only if the claim is new, merges each row into ``market_data`` and its
hourly and daily rollups (counts add, extremes widen, averages combine
weighted by count). A read takes the ranges of rows to read from its caller
(``domain.retention.cover``: the fewest rows of the grains its retention
still keeps).

Fencing: in the same statement each feed of the batch (an exchange, or a
shard of one) checks its token against ``feed_owners``. The rows of a feed
a newer token holds are left out (and the feed named in the answer); the
others move the feed's seal mark to the batch's and clear its pending
claims. A stale owner
(paused, partitioned, or a dead process's spool) can therefore never add to
minutes its successor counts.
"""

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence

import gevent
import psycopg2
from psycopg2.extensions import cursor

from app.adapters.postgres import partitions
from app.adapters.postgres.calls import PostgresCalls
from app.application.ports.storage import BatchRejected, FeedFenced
from app.domain.minutes import MinuteBatch, MinuteRow, SealMark
from app.domain.missed_trades import TradeGap
from app.domain.retention import Retention
from app.domain.rollup import RollupKey, StoredRange, roll_up
from app.domain.stats import PriceStats
from app.domain.tick import minute_start
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, seconds_to_ms

log = logging.getLogger(__name__)
# /health must answer quickly even when the server hangs.
PING_TIMEOUT = 1.0

# Merging a delta into a row: counts add, extremes widen (ties to the newer minute), and the mean moves
# towards the delta's by its share of the count, which cannot overflow as a sum of price * count could.
_MEAN = (
    "average_price = m.average_price + (EXCLUDED.average_price - m.average_price) * EXCLUDED.sample_count"
    " / (m.sample_count + EXCLUDED.sample_count)"
)
# Open and close: the earlier (later) trade time wins, and on a tie the delta sealed first (last), which is
# arrival order. Volume adds where either side has one; the VWAP moves towards the delta's by its share of it.
_MERGE_TRADES = """,
    open_price = CASE WHEN m.open_at IS NULL OR EXCLUDED.open_at < m.open_at
                      THEN EXCLUDED.open_price ELSE m.open_price END,
    open_at = LEAST(m.open_at, EXCLUDED.open_at),
    close_price = CASE WHEN m.close_at IS NULL OR EXCLUDED.close_at >= m.close_at
                       THEN EXCLUDED.close_price ELSE m.close_price END,
    close_at = GREATEST(m.close_at, EXCLUDED.close_at),
    volume = COALESCE(m.volume + EXCLUDED.volume, m.volume, EXCLUDED.volume),
    vwap = COALESCE(m.vwap + (EXCLUDED.vwap - m.vwap) * EXCLUDED.volume / NULLIF(m.volume + EXCLUDED.volume, 0),
                    m.vwap, EXCLUDED.vwap)"""
_MERGE_MINUTE = f"""
    {_MEAN},
    min_price = LEAST(m.min_price, EXCLUDED.min_price),
    max_price = GREATEST(m.max_price, EXCLUDED.max_price),
    sample_count = m.sample_count + EXCLUDED.sample_count{_MERGE_TRADES}"""
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
    sample_count = m.sample_count + EXCLUDED.sample_count{_MERGE_TRADES}"""
_TRADE_COLUMNS = "open_price, open_at, close_price, close_at, volume, vwap"
_COLUMNS = "pair_name, exchange, timestamp, average_price, min_price, min_at, max_price, max_at, sample_count, " + (
    _TRADE_COLUMNS
)
_AT = "to_timestamp(%s::bigint / 1000.0)"
# A batch's rows arrive as one array literal per column (feed first: the fence checks it; it is not
# stored), unnested on the server: thousands of rows cost 16 parameters, not one adapted parameter per value,
# which at market width held the event loop for a quarter of a second per flush.
_ARRAYS = (
    ("feed", "text"),
    ("pair_name", "text"),
    ("exchange", "text"),
    ("start_ms", "bigint"),
    ("average_price", "float8"),
    ("min_price", "float8"),
    ("min_ms", "bigint"),
    ("max_price", "float8"),
    ("max_ms", "bigint"),
    ("sample_count", "bigint"),
    ("open_price", "float8"),
    ("open_ms", "bigint"),
    ("close_price", "float8"),
    ("close_ms", "bigint"),
    ("volume", "float8"),
    ("vwap", "float8"),
)
_UNNEST = (
    f"SELECT feed, pair_name, exchange, to_timestamp(start_ms / 1000.0) AS timestamp, average_price, min_price,"
    f" to_timestamp(min_ms / 1000.0) AS min_at, max_price, to_timestamp(max_ms / 1000.0) AS max_at, sample_count,"
    f" open_price, to_timestamp(open_ms / 1000.0) AS open_at, close_price, to_timestamp(close_ms / 1000.0) AS close_at,"
    f" volume, vwap FROM unnest({', '.join(f'%s::{kind}[]' for _, kind in _ARRAYS)})"
    f" AS u({', '.join(name for name, _ in _ARRAYS)})"
)
_ROLLUP_TABLES = ((MS_PER_HOUR, "market_data_hourly"), (MS_PER_DAY, "market_data_daily"))
_TABLES = {MS_PER_MINUTE: "market_data", **dict(_ROLLUP_TABLES)}


# Fence a feed with a batch's token: kept (the seal mark moved on, the claims cleared) unless a newer token
# holds it.
_FENCE = (
    "fenced AS (INSERT INTO feed_owners AS f (feed, token, mark_lease, mark_seq) VALUES {rows}"
    " ON CONFLICT (feed) DO UPDATE SET token = EXCLUDED.token, mark_lease = EXCLUDED.mark_lease,"
    " mark_seq = CASE WHEN f.mark_lease = EXCLUDED.mark_lease THEN GREATEST(f.mark_seq, EXCLUDED.mark_seq)"
    " ELSE EXCLUDED.mark_seq END, pending = '{{}}'"
    " WHERE f.token <= EXCLUDED.token RETURNING feed)"
)
_FENCE_ROW = "(%s::text, %s::bigint, %s::bigint, %s::bigint)"


def _merge_sql(fences: int) -> str:
    """One statement: claim the batch id and, only if the claim is new, merge the rows of unfenced feeds.

    The claim looks for the id in every partition of the ledger (an id stored before migration 7 has its
    ``applied_at`` for a newest minute); the primary key, within the batch's own partition, is what makes
    two concurrent writes of one batch wait for each other.

    Its parameters: the batch id, its newest minute and the id again, four per fenced feed, then ``_ARRAYS``
    for the minutes and for each rollup.
    """

    def upsert(table: str, columns: str, merge: str) -> str:
        return (
            f"INSERT INTO {table} AS m ({columns}) SELECT {columns} FROM ({_UNNEST}) AS v"
            " WHERE EXISTS (SELECT 1 FROM claim) AND v.feed IN (SELECT feed FROM fenced)"
            f" ON CONFLICT (pair_name, exchange, timestamp) DO UPDATE SET {merge}"
        )

    minute_columns = (
        f"pair_name, exchange, timestamp, average_price, min_price, max_price, sample_count, {_TRADE_COLUMNS}"
    )
    steps = [
        f"claim AS (INSERT INTO market_data_batches (batch_id, newest_minute) SELECT %s, {_AT}"
        " WHERE NOT EXISTS (SELECT 1 FROM market_data_batches WHERE batch_id = %s)"
        " ON CONFLICT DO NOTHING RETURNING batch_id)",
        _FENCE.format(rows=", ".join([_FENCE_ROW] * fences)),
        f"minutes AS ({upsert('market_data', minute_columns, _MERGE_MINUTE)} RETURNING 1)",
    ]
    for _, table in _ROLLUP_TABLES:
        steps.append(f"{table} AS ({upsert(table, _COLUMNS, _MERGE_ROLLUP)} RETURNING 1)")
    return f"WITH {', '.join(steps)} SELECT feed FROM fenced"


def _partition_missing(exc: psycopg2.Error) -> bool:
    """The row of a day (month, year) nobody made a partition for yet: a late row, or far ahead."""
    return exc.pgcode == "23514" and "no partition of relation" in str(exc)


# Take a feed over: a token at least as new replaces the one there and joins the pending claims; the seal
# mark stays as it was (the replay batch moves it, see ``MinuteAggregator.claim_pending``). Answers the row
# as it is now: whether the token is ours, the mark and the claims. One upsert, because ON CONFLICT works on
# the row's latest version, after waiting for a write in flight (a read of the mark in the same statement
# would see the version before that write, and the new owner would replay rows the old one just stored).
_CLAIM = """
INSERT INTO feed_owners AS f (feed, token, mark_lease, mark_seq) VALUES (%(feed)s, %(token)s, %(token)s, 0)
ON CONFLICT (feed) DO UPDATE SET token = GREATEST(f.token, EXCLUDED.token),
    pending = CASE WHEN f.token > EXCLUDED.token OR EXCLUDED.token = ANY (f.pending) THEN f.pending
                   ELSE array_append(f.pending, EXCLUDED.token) END
RETURNING token, mark_lease, mark_seq, pending
"""


def _row(feed: str, exchange: str, symbol: str, start_ms: int, stats: PriceStats) -> tuple:
    """A row in ``_ARRAYS``' order."""
    s = stats
    known = not math.isnan(s.first)  # NaN: a minute spooled before open and close were kept
    trades = (s.first, s.first_ts, s.last, s.last_ts) if known else (None, None, None, None)
    extremes = (s.mean, s.low, s.low_ts, s.high, s.high_ts, s.count)
    return (feed, symbol, exchange, start_ms, *extremes, *trades, s.volume, s.vwap)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literals(rows: Sequence[tuple]) -> list[str]:
    """One PostgreSQL array literal per column of ``rows`` (``repr`` of a float reads back as the same float)."""
    if not rows:  # every row past retention
        return ["{}"] * len(_ARRAYS)
    literals = []
    for (_, kind), column in zip(_ARRAYS, zip(*rows, strict=True), strict=True):
        spell = _quoted if kind == "text" else repr
        if None in column:
            literals.append("{" + ",".join("NULL" if v is None else spell(v) for v in column) + "}")
        else:  # most columns: spelled in one C loop
            literals.append("{" + ",".join(map(spell, column)) + "}")
    return literals


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


def _unknown_trades(stats: PriceStats, start_ms: int, end_ms: int) -> None:
    """No open or close known (stored or spooled before they were kept): NaN prices, at times that never win
    against a known one when merged (an open after, a close before every tick of ``[start, end)``)."""
    stats.first, stats.first_ts, stats.last, stats.last_ts = math.nan, end_ms, math.nan, start_ms - 1


# Rows of one grain merged per candle in the database: at most ``limit`` rows come back, whatever they cover.
# Open and close: the earliest (latest) trade time, then the exchange named first (last), as ``PriceStats``.
_CANDLES = """
SELECT ms / %s * %s AS start, sum(sample_count), sum(average_price * sample_count), min(min_price), max(max_price),
       (array_agg(open_price ORDER BY open_at, exchange) FILTER (WHERE open_at IS NOT NULL))[1], min(open_ms),
       (array_agg(close_price ORDER BY close_at DESC, exchange DESC) FILTER (WHERE close_at IS NOT NULL))[1],
       max(close_ms), sum(volume), sum(vwap * volume)
FROM ({parts}) w GROUP BY 1 ORDER BY 1
"""


def _candle_part(grain_ms: int) -> str:
    return (
        f"SELECT exchange, {_MS.format(column='timestamp')} AS ms, average_price, sample_count, min_price, max_price,"
        f" open_price, open_at, {_MS.format(column='open_at')} AS open_ms,"
        f" close_price, close_at, {_MS.format(column='close_at')} AS close_ms, volume, vwap FROM {_TABLES[grain_ms]}"
        " WHERE pair_name = %s AND exchange = ANY(%s)"
        " AND timestamp >= to_timestamp(%s / 1000.0) AND timestamp < to_timestamp(%s / 1000.0)"
    )


def _candle_stats(interval_ms: int, row: tuple) -> tuple[int, PriceStats]:
    start, n, total, low, high, first, first_ts, last, last_ts, volume, notional = row
    stats = PriceStats()
    stats.count, stats.total = int(n), float(total)
    stats.low, stats.low_ts, stats.high, stats.high_ts = float(low), int(start), float(high), int(start)
    if first is None or last is None:
        _unknown_trades(stats, int(start), int(start) + interval_ms)
    else:
        stats.first, stats.first_ts, stats.last, stats.last_ts = float(first), int(first_ts), float(last), int(last_ts)
    if volume is not None:
        stats.volume, stats.notional = float(volume), float(notional or 0.0)
    return int(start), stats


def _minute_stats(row: MinuteRow) -> PriceStats:
    """A minute row as stats whose extremes carry the minute's start, as stored rows do."""
    stats = PriceStats()
    stats.count, stats.total = row.count, row.mean * row.count
    stats.low, stats.low_ts, stats.low_exchange = row.low, row.minute_ms, row.exchange
    stats.high, stats.high_ts, stats.high_exchange = row.high, row.minute_ms, row.exchange
    if row.open is None or row.open_ms is None or row.close is None or row.close_ms is None:
        _unknown_trades(stats, row.minute_ms, row.minute_ms + MS_PER_MINUTE)
    else:
        stats.first, stats.first_ts, stats.last, stats.last_ts = row.open, row.open_ms, row.close, row.close_ms
    if row.volume is not None:
        stats.volume, stats.notional = row.volume, row.volume * (row.vwap or 0.0)
    return stats


class PostgresMinuteStore:
    """Rows older than their tier's retention are left out of a write (counted in ``rows_past_retention``):
    their partition is dropped or about to be, and no reader looks there any more. A batch whose newest
    minute is older than the ledger keeps batch ids is refused (``BatchRejected``: set aside), since a
    retry of it could no longer be told from a first write."""

    def __init__(
        self,
        calls: PostgresCalls,
        retention: Retention,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._run = calls.run
        self._retention = retention
        self._clock = clock
        self.rows_past_retention = 0

    def write(self, batch: MinuteBatch) -> list[str]:
        if not batch.rows:
            return self._move_marks(batch)
        now_ms = seconds_to_ms(self._clock())
        first = min(r.minute_ms for r in batch.rows)
        newest = max(r.minute_ms for r in batch.rows)
        if newest < now_ms - partitions.LEDGER_DAYS * MS_PER_DAY:
            raise BatchRejected(
                f"its newest minute is older than the {partitions.LEDGER_DAYS} days batch ids are kept: a retry"
                " of it could not be told from its first write"
            )
        minutes = [(r.exchange, r.symbol, r.minute_ms, _minute_stats(r)) for r in batch.rows]
        # A symbol's minutes, and so its rollups, are all read under the one feed that holds it.
        feed_of = {(r.exchange, r.symbol): r.feed for r in batch.rows}
        feeds = sorted(set(feed_of.values()))
        params: list[object] = [batch.batch_id, newest, batch.batch_id]
        for feed in feeds:
            fence = batch.fences.get(feed, 0)
            params.extend((feed, fence, fence, batch.seq))
        kept = self._kept(MS_PER_MINUTE, now_ms, [(m[:3], m[3]) for m in minutes])
        if len(kept) < len(minutes):
            self.rows_past_retention += len(minutes) - len(kept)
            log.warning(
                "minute rows older than retention.minutes_days left out",
                extra={"batch": batch.batch_id, "rows": len(minutes) - len(kept)},
            )
        params.extend(_array_literals([_row(feed_of[ex, sym], ex, sym, minute, st) for (ex, sym, minute), st in kept]))
        for grain, _ in _ROLLUP_TABLES:
            gevent.sleep(0)  # thousands of rows per tier at market width: let ingestion in between
            rolled = self._kept(grain, now_ms, roll_up(minutes, grain).items())
            params.extend(
                _array_literals([_row(feed_of[ex, sym], ex, sym, start, st) for (ex, sym, start), st in rolled])
            )
        sql = _merge_sql(len(feeds))

        def merge(cur: cursor) -> set[str]:
            try:
                try:
                    cur.execute(sql, params)
                except psycopg2.IntegrityError as exc:
                    if not _partition_missing(exc):
                        raise
                    for tier in partitions.TIERS:
                        partitions.create(cur, tier, first, newest)
                    cur.execute(sql, params)
            except REFUSED as exc:  # the server is fine; this batch's values are not
                raise BatchRejected(f"{type(exc).__name__}: {exc}".strip()[:300]) from exc
            return {row[0] for row in cur.fetchall()}

        held = self._run(merge)
        return [feed for feed in feeds if feed not in held]

    def _kept(
        self, grain_ms: int, now_ms: int, rows: Iterable[tuple[RollupKey, PriceStats]]
    ) -> list[tuple[RollupKey, PriceStats]]:
        """The rows of a grain its retention still keeps."""
        kept_from = self._retention.kept_from(grain_ms, now_ms)
        return [(key, stats) for key, stats in rows if kept_from is None or key[2] >= kept_from]

    def _move_marks(self, batch: MinuteBatch) -> list[str]:
        """A batch with no rows (a replay that found nothing) still fences its feeds and moves their marks."""
        if not batch.fences:
            return []
        params: list[object] = []
        for feed, token in sorted(batch.fences.items()):
            params.extend((feed, token, token, batch.seq))
        sql = f"WITH {_FENCE.format(rows=', '.join([_FENCE_ROW] * len(batch.fences)))} SELECT feed FROM fenced"

        def move(cur: cursor) -> set[str]:
            cur.execute(sql, params)
            return {row[0] for row in cur.fetchall()}

        kept = self._run(move)
        return [feed for feed in sorted(batch.fences) if feed not in kept]

    def claim(self, feed: str, token: int, timeout: float | None = None) -> list[SealMark]:
        def take(cur: cursor) -> tuple:
            cur.execute(_CLAIM, {"feed": feed, "token": token})
            return cur.fetchone()

        holder, mark_lease, mark_seq, pending = self._run(take, timeout=timeout)
        if holder != token:
            raise FeedFenced(f"{feed}: a newer fencing token holds the feed")
        marks = [SealMark(int(mark_lease), int(mark_seq))] + [SealMark(int(lease), 0) for lease in pending]
        return [mark for mark in marks if mark.lease != token]

    def mark_incomplete(self, gap: TradeGap) -> None:
        """``complete = false`` on the stored minutes of ``gap``'s (exchange, symbol) that it touches."""
        self._run(
            lambda cur: cur.execute(
                "UPDATE market_data SET complete = false WHERE pair_name = %s AND exchange = %s AND complete"
                " AND timestamp >= to_timestamp(%s / 1000.0) AND timestamp <= to_timestamp(%s / 1000.0)",
                (gap.symbol, gap.exchange, minute_start(gap.from_ms), minute_start(gap.to_ms)),
            )
        )

    def summarize(self, symbol: str, exchanges: Sequence[str], ranges: Sequence[StoredRange]) -> PriceStats:
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

    def candles(
        self, symbol: str, exchanges: Sequence[str], interval_ms: int, ranges: Sequence[StoredRange]
    ) -> list[tuple[int, PriceStats]]:
        if not ranges:
            return []
        sql = _CANDLES.replace("{parts}", " UNION ALL ".join(_candle_part(grain) for grain, _, _ in ranges))
        params: list[object] = [interval_ms, interval_ms]
        for _, lo, hi in ranges:
            params.extend((symbol, list(exchanges), lo, hi))

        def query(cur: cursor) -> list[tuple]:
            cur.execute(sql, params)
            return cur.fetchall()

        return [_candle_stats(interval_ms, row) for row in self._run(query)]

    def ping(self) -> float:
        started = time.perf_counter()
        self._run(lambda cur: cur.execute("SELECT 1"), timeout=PING_TIMEOUT)
        return time.perf_counter() - started
