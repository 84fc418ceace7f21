"""The PostgreSQL adapter against the machine's real server, in a database of our own."""

import random
import uuid

import orjson
import psycopg2
import pytest

from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.pool import ConnectionPool
from app.adapters.postgres.schema import MIGRATIONS, migrate
from app.application.ports import MinuteBatch, MinuteRow, StorageUnavailable
from app.domain.rollup import MS_PER_DAY
from app.domain.stats import PriceStats
from app.domain.trade_gap import TradeGap
from tests.support.fakes import MARK
from tests.support.net import free_port
from tests.support.reference import summary

M = 1_763_712_000_000
MIN = 60_000


def store(dsn: str) -> PostgresMinuteStore:
    return PostgresMinuteStore(ConnectionPool(dsn, 2, 1.0, 2, 5000), retry_after=0.2, call_timeout=8)


def rows(conn: psycopg2.extensions.connection) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pair_name, exchange, (extract(epoch FROM timestamp) * 1000)::bigint, average_price, min_price,"
            " max_price, sample_count FROM market_data ORDER BY 1, 2, 3"
        )
        return cur.fetchall()


def test_a_batch_is_one_row_per_minute_and_a_retry_changes_nothing(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    batch = MinuteBatch(
        "batch-1",
        (
            MinuteRow("ex1", "BTCUSDT", M, 4, 100.625, 98.5, 103.0),
            MinuteRow("ex2", "BTCUSDT", M, 1, 200.0, 200.0, 200.0),
            MinuteRow("ex1", "BTCUSDT", M + 60_000, 2, 10.0, 9.0, 11.0),
        ),
        MARK,
    )
    s.write(batch)
    s.write(batch)
    assert rows(pg) == [
        ("BTCUSDT", "ex1", M, 100.625, 98.5, 103.0, 4),
        ("BTCUSDT", "ex1", M + 60_000, 10.0, 9.0, 11.0, 2),
        ("BTCUSDT", "ex2", M, 200.0, 200.0, 200.0, 1),
    ]


def test_deltas_of_the_same_minute_merge_weighted_by_count(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    s.write(MinuteBatch("a", (MinuteRow("ex1", "ETHUSDT", M, 2, 15.0, 10.0, 20.0),), MARK))
    s.write(MinuteBatch("b", (MinuteRow("ex1", "ETHUSDT", M, 2, 17.5, 5.0, 30.0),), MARK))
    assert rows(pg) == [("ETHUSDT", "ex1", M, 16.25, 5.0, 30.0, 4)]


def test_summarize_weights_and_locates_extremes(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    s.write(
        MinuteBatch(
            "c",
            (
                MinuteRow("ex1", "SOLUSDT", M, 10, 50.0, 40.0, 60.0),
                MinuteRow("ex2", "SOLUSDT", M + 60_000, 1, 80.0, 80.0, 80.0),
                MinuteRow("ex2", "SOLUSDT", M + 120_000, 5, 1.0, 1.0, 1.0),  # outside the range asked
                MinuteRow("ex3", "SOLUSDT", M, 5, 1.0, 1.0, 1.0),  # an exchange not asked for
            ),
            MARK,
        )
    )
    stats = s.summarize("SOLUSDT", ["ex1", "ex2"], M, M + 120_000)
    assert (stats.count, stats.total) == (11, 580.0)
    assert (stats.low, stats.low_ts, stats.low_exchange) == (40.0, M, "ex1")
    assert (stats.high, stats.high_ts, stats.high_exchange) == (80.0, M + 60_000, "ex2")
    assert s.summarize("SOLUSDT", ["ex1"], M + 60_000, M + 120_000).count == 0


def minute_rows(rng: random.Random, start: int, minutes: int) -> list[MinuteRow]:
    picked = rng.sample(range(minutes), minutes // 3)
    return [
        MinuteRow(
            rng.choice(["ex1", "ex2"]),
            "BTCUSDT",
            start + i * MIN,
            rng.randrange(1, 50),
            rng.choice([99.5, 100.0, 100.25]),
            rng.choice([90.0, 95.0]),
            rng.choice([105.0, 110.0]),
        )
        for i in picked
    ]


def brute_force(minutes: list[MinuteRow], from_ms: int, to_ms: int) -> tuple:
    stats = PriceStats()
    for row in minutes:
        if from_ms <= row.minute_ms < to_ms:
            part = PriceStats()
            part.count, part.total = row.count, row.mean * row.count
            part.low, part.low_ts, part.low_exchange = row.low, row.minute_ms, row.exchange
            part.high, part.high_ts, part.high_exchange = row.high, row.minute_ms, row.exchange
            stats.merge(part)
    return summary(stats)


def test_long_ranges_read_rollups_and_equal_the_minutes_they_cover(pg_dsn: str, pg) -> None:
    rng = random.Random(3)
    s = store(pg_dsn)
    start = M - M % MS_PER_DAY - 2 * MS_PER_DAY
    fed = minute_rows(rng, start, 4 * 24 * 60)
    # The same minutes arrive as several deltas in several batches, one batch twice (a retry).
    deltas = [*fed, *fed[::5]]
    batches = [MinuteBatch(f"b{i}", tuple(deltas[i : i + 300]), MARK) for i in range(0, len(deltas), 300)]
    for batch in [*batches, batches[3]]:
        s.write(batch)
    expected = deltas
    for _ in range(60):
        lo = start + rng.randrange(4 * 24 * 60) * MIN
        hi = lo + rng.randrange(1, 4 * 24 * 60) * MIN
        assert summary(s.summarize("BTCUSDT", ["ex1", "ex2"], lo, hi)) == brute_force(expected, lo, hi), (lo, hi)
    with pg.cursor() as cur:
        cur.execute("SELECT count(*), sum(sample_count) FROM market_data_daily")
        days, samples = cur.fetchone()
    assert (days, samples) == (8, sum(row.count for row in expected))


def test_the_rollup_migration_builds_rollups_from_minutes_already_stored(pg_dsn: str, pg) -> None:
    name = f"mf_migrate_{uuid.uuid4().hex[:8]}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn = psycopg2.connect(pg_dsn.rpartition("/")[0] + "/" + name)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(MIGRATIONS[0])
            cur.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY); INSERT INTO schema_migrations VALUES (1)"
            )
            cur.execute(
                "INSERT INTO market_data VALUES ('BTCUSDT', 'ex1', to_timestamp(%s / 1000.0), 10, 5, 15, 2),"
                " ('BTCUSDT', 'ex1', to_timestamp(%s / 1000.0), 40, 5, 50, 1)",
                (M, M + MIN),
            )
        assert migrate(conn) == [2, 3]  # 3: market_data.complete, true for the rows already there
        with conn.cursor() as cur:
            cur.execute(
                "SELECT average_price, min_price, (extract(epoch FROM min_at) * 1000)::bigint, max_price,"
                " (extract(epoch FROM max_at) * 1000)::bigint, sample_count FROM market_data_hourly"
            )
            assert cur.fetchall() == [(20.0, 5.0, M + MIN, 50.0, M + MIN, 3)]  # tied lows: the newer minute
    finally:
        conn.close()
        with pg.cursor() as cur:
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_migrate_is_idempotent(pg_dsn: str, pg) -> None:
    assert migrate(pg) == []
    with pg.cursor() as cur:
        cur.execute("SELECT max(version) FROM schema_migrations")
        assert cur.fetchone()[0] == len(MIGRATIONS)


def test_an_unreachable_server_is_storage_unavailable() -> None:
    s = store(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    with pytest.raises(StorageUnavailable):
        s.write(MinuteBatch("x", (MinuteRow("ex1", "BTCUSDT", M, 1, 1.0, 1.0, 1.0),), MARK))
    with pytest.raises(StorageUnavailable):
        s.ping()


def test_a_batch_replayed_from_the_spool_after_a_crash_is_not_counted_twice(pg_dsn: str, pg, tmp_path) -> None:
    """The crash came after PostgreSQL committed the batch but before the spool heard of it."""
    from app.adapters.spool.file_spool import FileSpool
    from app.application.aggregator import MinuteAggregator

    s = store(pg_dsn)
    batch = MinuteBatch("crash-1", (MinuteRow("ex1", "TONUSDT", M, 3, 5.5, 5.25, 5.75),), MARK)
    spool = FileSpool(tmp_path / "spool.jsonl", 1 << 20)
    spool.append(batch)
    s.write(batch)  # committed; the ack never happened
    revived = MinuteAggregator(s, FileSpool(tmp_path / "spool.jsonl", 1 << 20), grace_ms=0, run="next")
    assert revived.unsent_batches == 1
    assert revived.flush()
    assert rows(pg) == [("TONUSDT", "ex1", M, 5.5, 5.25, 5.75, 3)]
    assert revived.unsent_batches == 0


def test_old_batch_ids_are_pruned_after_a_write(pg_dsn: str, pg) -> None:
    migrate(pg)
    with pg.cursor() as cur:
        cur.execute("INSERT INTO market_data_batches VALUES ('ancient', now() - interval '8 days')")
        cur.execute("INSERT INTO market_data_batches VALUES ('recent', now() - interval '6 days')")
    store(pg_dsn).write(MinuteBatch("fresh", (MinuteRow("ex1", "BTCUSDT", M, 1, 1.0, 1.0, 1.0),), MARK))
    with pg.cursor() as cur:
        cur.execute("SELECT batch_id FROM market_data_batches ORDER BY batch_id")
        assert [row[0] for row in cur.fetchall()] == ["fresh", "recent"]


def test_a_batch_the_store_refuses_is_set_aside_and_the_next_ones_are_written(pg_dsn: str, pg, tmp_path) -> None:
    """One poisoned batch must never block every minute after it (it used to be retried forever)."""
    from app.adapters.spool.file_spool import FileSpool
    from app.application.aggregator import MinuteAggregator

    spool = FileSpool(tmp_path / "spool.jsonl", 1 << 20)
    s = store(pg_dsn)
    spool.append(MinuteBatch("poisoned", (MinuteRow("ex1", "BTCUSDT", M, 0, 1.0, 1.0, 1.0),), MARK))  # count 0
    spool.append(MinuteBatch("fine", (MinuteRow("ex1", "BTCUSDT", M + MIN, 2, 5.0, 4.0, 6.0),), MARK))
    aggregator = MinuteAggregator(s, spool, grace_ms=0, run="run-a")
    assert aggregator.flush()
    assert rows(pg) == [("BTCUSDT", "ex1", M + MIN, 5.0, 4.0, 6.0, 2)]
    assert (aggregator.unsent_batches, aggregator.batches_set_aside) == (0, 1)
    dead = [orjson.loads(line) for line in spool.dead_path.read_bytes().splitlines()]
    assert [(entry["batch"], entry["rows"][0][3]) for entry in dead] == [("poisoned", 0)]
    assert "CheckViolation" in dead[0]["error"] or "check" in dead[0]["error"].lower()
    s.ping()  # the server was never taken for down
    assert FileSpool(tmp_path / "spool.jsonl", 1 << 20).pending() == []


def test_the_minutes_a_gap_touches_are_marked_incomplete_and_stay_so(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    minutes = [MinuteRow(ex, "BTCUSDT", M + i * MIN, 1, 5.0, 5.0, 5.0) for ex in ("ex1", "ex2") for i in range(4)]
    s.write(MinuteBatch(uuid.uuid4().hex, tuple(minutes), MARK))
    s.mark_incomplete(TradeGap("ex1", "BTCUSDT", M + MIN + 30_000, M + 2 * MIN + 1, 3))
    s.write(MinuteBatch(uuid.uuid4().hex, (MinuteRow("ex1", "BTCUSDT", M + MIN, 2, 7.0, 6.0, 8.0),), MARK))
    with pg.cursor() as cur:
        cur.execute(
            "SELECT exchange, (extract(epoch FROM timestamp) * 1000)::bigint FROM market_data"
            " WHERE NOT complete ORDER BY 1, 2"
        )
        assert cur.fetchall() == [("ex1", M + MIN), ("ex1", M + 2 * MIN)]
