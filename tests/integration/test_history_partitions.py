"""Partitioned history on the machine's real PostgreSQL: partitions ahead, late rows, retention, the batch
ledger, and the migration of unpartitioned tables. Each test has a database of its own (partitions are
what it looks at)."""

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg2
import pytest

from app.adapters.postgres import partitions
from app.adapters.postgres.history import PostgresHistory
from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.schema import migrate
from app.application.candle_queries import CandleQueries
from app.application.ports.storage import BatchRejected
from app.application.price_queries import PriceQueries
from app.domain.candles import parse_interval
from app.domain.feed_map import FeedMap
from app.domain.market import Market
from app.domain.minutes import MinuteBatch, MinuteRow
from app.domain.period import parse_period
from app.domain.retention import Retention
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, floor_to
from tests.support.fakes import SEQ, Clock
from tests.support.in_process import build_app, run_command
from tests.support.stores import pg_calls, pg_store
from tests.unit.test_price_queries import Fixture

MIN = MS_PER_MINUTE


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def names(conn: psycopg2.extensions.connection, table: str) -> list[str]:
    with conn.cursor() as cur:
        return partitions.partitions(cur, partitions.Tier("", table, ""))


@pytest.fixture
def db(empty_db: str) -> Iterator[tuple[str, psycopg2.extensions.connection]]:
    """A database of this test's own, migrated, and a connection to it."""
    conn = psycopg2.connect(empty_db)
    conn.autocommit = True
    migrate(conn)
    yield empty_db, conn
    conn.close()


def test_partitions_are_made_a_week_ahead_across_a_day_a_month_and_a_year_boundary(db) -> None:
    dsn, conn = db
    history = PostgresHistory(pg_calls(dsn), Retention(35, 400, 0), ["a"])
    done = history.upkeep(at("2026-12-28T13:00:00"))
    assert done.held
    assert done.dropped == ()
    days = [f"2026122{d}" for d in range(8, 10)] + ["20261230", "20261231"] + [f"2027010{d}" for d in range(1, 5)]
    assert names(conn, "market_data") == [f"market_data_p{d}" for d in days]
    assert names(conn, "market_data_batches") == [f"market_data_batches_p{d}" for d in days]
    assert names(conn, "market_data_hourly") == ["market_data_hourly_p202612", "market_data_hourly_p202701"]
    assert names(conn, "market_data_daily") == ["market_data_daily_p2026", "market_data_daily_p2027"]
    assert done.created == len(days) * 2 + 4
    assert history.upkeep(at("2026-12-28T13:10:00")).created == 0  # nothing new to make
    assert done.oldest_ms == {
        "minutes": at("2026-12-28T00:00:00"),
        "hours": at("2026-12-01T00:00:00"),
        "days": at("2026-01-01T00:00:00"),
        "batches": at("2026-12-28T00:00:00"),
    }


def test_a_late_row_lands_in_a_partition_made_for_it_and_a_row_past_retention_is_counted_not_written(db) -> None:
    dsn, conn = db
    now = at("2026-03-06T10:30:00")
    store = pg_store(dsn, Clock(now / 1000), Retention(2, 6, 0))  # minutes from 03-04, hours from 02-28
    late = MinuteRow("a", "BTCUSDT", at("2026-03-04T00:01:00"), 2, 10.0, 9.0, 11.0)  # two days late: kept
    gone = MinuteRow("a", "BTCUSDT", at("2026-03-01T12:00:00"), 3, 20.0, 19.0, 21.0)  # past the minutes' 2 days
    fresh = MinuteRow("a", "BTCUSDT", at("2026-03-06T10:29:00"), 1, 30.0, 30.0, 30.0)
    store.write(MinuteBatch("late", (late, gone, fresh), SEQ))
    assert store.rows_past_retention == 1
    with conn.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text, sample_count FROM market_data ORDER BY timestamp")
        assert cur.fetchall() == [("market_data_p20260304", 2), ("market_data_p20260306", 1)]
        # The hour of the row past the minutes' retention is still kept: it counts there.
        cur.execute("SELECT timestamp, sample_count FROM market_data_hourly ORDER BY timestamp")
        assert [count for _, count in cur.fetchall()] == [3, 2, 1]
        cur.execute("SELECT tableoid::regclass::text, sum(sample_count) FROM market_data_daily GROUP BY 1")
        assert cur.fetchall() == [("market_data_daily_p2026", 6)]
    # A batch whose every minute is past retention still writes its hour and day.
    store.write(MinuteBatch("gone", (MinuteRow("a", "ETHUSDT", at("2026-03-01T12:00:00"), 4, 5.0, 4.0, 6.0),), SEQ))
    assert store.rows_past_retention == 2
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM market_data WHERE pair_name = 'ETHUSDT'")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT sample_count FROM market_data_hourly WHERE pair_name = 'ETHUSDT'")
        assert cur.fetchall() == [(4,)]


NOW = at("2026-03-06T10:30:00")
SEEDED_FROM = at("2026-02-25T00:00:00")
KEPT = Retention(minutes_days=2, hours_days=4, days_days=6)


def seeded_rows() -> list[MinuteRow]:
    """A row a minute on exchange ``a`` from ``SEEDED_FROM`` to ten minutes before ``NOW``, newest first."""
    count = (NOW - 10 * MIN - SEEDED_FROM) // MIN
    return [
        MinuteRow("a", "BTCUSDT", NOW - 10 * MIN - i * MIN, 1 + i % 5, 100.0 + i % 7, 99.0 - i % 3, 101.0 + i % 11)
        for i in range(count)
    ]


def seed(dsn: str) -> tuple[PostgresMinuteStore, list[MinuteRow]]:
    clock = Clock(0.0)
    store = pg_store(dsn, clock, KEPT)
    rows = seeded_rows()
    for start in range(0, len(rows), 3000):
        clock.now = rows[start].minute_ms / 1000  # each batch written when its newest minute was current
        store.write(MinuteBatch(f"seed-{start}", tuple(rows[start : start + 3000]), SEQ))
    return store, rows


class StoredOnly(Fixture):
    """Queries at ``NOW`` over the PostgreSQL store, with nothing recent: every answer is the store's."""

    def __init__(self, store: PostgresMinuteStore) -> None:
        super().__init__()
        self.clock.now = NOW / 1000
        self.cache.mark(0, ["a"])
        self.queries = PriceQueries(
            Market(["BTCUSDT"], ["a"]),
            self.modes,
            self.cache,
            self.fallback,
            store,
            5 * MIN,
            self,
            self,
            FeedMap(),
            self.gaps,
            KEPT,
            clock=self.clock,
        )
        self.candles = CandleQueries(self.queries, store, 5 * MIN, self.clock)


def brute(rows: list[MinuteRow], lo: int, hi: int) -> tuple[int, float, float, float]:
    inside = [r for r in rows if lo <= r.minute_ms < hi]
    n = sum(r.count for r in inside)
    return n, sum(r.mean * r.count for r in inside) / n, min(r.low for r in inside), max(r.high for r in inside)


def test_retention_drops_exactly_the_partitions_past_it_and_answers_stay_exact_or_say_partial(db) -> None:
    dsn, conn = db
    store, rows = seed(dsn)
    done = PostgresHistory(pg_calls(dsn), KEPT, ["a"]).upkeep(NOW)
    # Minutes kept from 2026-03-04 (2 days), hours from 03-02 (4 days: February's partition ends 03-01), days
    # from 02-28 (their 2026 partition holds later days too); batch ids from 02-26 (7 days, and one to spare).
    assert sorted(done.dropped) == sorted(
        [("minutes", f"market_data_p{d}") for d in ("20260225", "20260226", "20260227", "20260228")]
        + [("minutes", f"market_data_p2026030{d}") for d in (1, 2, 3)]
        + [("hours", "market_data_hourly_p202602"), ("batches", "market_data_batches_p20260225")]
    )
    assert names(conn, "market_data")[:3] == ["market_data_p20260304", "market_data_p20260305", "market_data_p20260306"]
    assert names(conn, "market_data_hourly")[0] == "market_data_hourly_p202603"
    assert names(conn, "market_data_daily") == ["market_data_daily_p2026"]

    world = StoredOnly(store)
    # Inside the minutes' retention: exact to the minute.
    answer = world.queries.window("BTCUSDT", "a", parse_period("2d"))
    first = floor_to(NOW - 2 * MS_PER_DAY, MIN) + MIN
    assert (answer.from_ms, answer.partial) == (first, ())
    stats = answer.stats
    assert (stats.count, stats.mean, stats.low, stats.high) == pytest.approx(brute(rows, first, NOW))
    # Three days reach past it: whole hours answer from the first one; the cut hour is left out, and said so.
    answer = world.queries.window("BTCUSDT", "a", parse_period("3d"))
    hour = at("2026-03-03T11:00:00")
    assert answer.from_ms == hour
    assert answer.partial == (
        "stored history past its retention (retention.minutes_days) is kept only at a coarser grain or not at all",
    )
    stats = answer.stats
    assert (stats.count, stats.mean, stats.low, stats.high) == pytest.approx(brute(rows, hour, NOW))
    # Daily candles from days, and hourly ones within the hours' retention: exact, every one of them.
    for interval, lo, hi in (("1d", "2026-02-28", "2026-03-05"), ("1h", "2026-03-02", "2026-03-04")):
        span = parse_interval(interval)
        kept = world.candles.candles("BTCUSDT", "a", span, at(f"{lo}T00:00:00"), at(f"{hi}T00:00:00"), 100)
        assert kept.partial == ()
        assert [(c.start_ms, c.count) for c in kept.candles] == [
            (s, brute(rows, s, s + span.ms)[0]) for s in range(at(f"{lo}T00:00:00"), at(f"{hi}T00:00:00"), span.ms)
        ]
    # Hourly candles reaching past the hours' retention: partial, the part past it left out.
    hourly = parse_interval("1h")
    past = world.candles.candles("BTCUSDT", "a", hourly, at("2026-03-01T00:00:00"), at("2026-03-03T00:00:00"), 100)
    assert "retention.hours_days" in past.partial[0]
    assert [c.start_ms for c in past.candles] == list(
        range(at("2026-03-02T00:00:00"), at("2026-03-03T00:00:00"), MS_PER_HOUR)
    )
    minutes = world.candles.candles("BTCUSDT", "a", parse_interval("1m"), at("2026-03-03T23:58:00"), None, 4)
    assert "retention.minutes_days" in minutes.partial[0]
    assert [c.start_ms for c in minutes.candles] == [at("2026-03-04T00:00:00"), at("2026-03-04T00:01:00")]


def test_a_batch_retried_inside_the_ledger_horizon_is_refused_and_one_past_it_is_set_aside(db) -> None:
    dsn, conn = db
    clock = Clock(NOW / 1000)
    store = pg_store(dsn, clock, KEPT)
    batch = MinuteBatch("once", (MinuteRow("a", "BTCUSDT", NOW - 6 * MS_PER_DAY, 2, 5.0, 4.0, 6.0),), SEQ)
    store.write(batch)
    history = PostgresHistory(pg_calls(dsn), KEPT, ["a"])
    history.upkeep(NOW)
    clock.now = (NOW + 20 * MS_PER_HOUR) / 1000  # a day later, still inside the 7 days
    history.upkeep(int(clock.now * 1000))
    store.write(batch)  # a retry: refused by its id
    with conn.cursor() as cur:
        cur.execute("SELECT sum(sample_count) FROM market_data_daily")
        assert cur.fetchone()[0] == 2
    clock.now = (NOW + 2 * MS_PER_DAY) / 1000  # its newest minute is now 8 days old: no longer in the ledger
    with pytest.raises(BatchRejected, match="older than the 7 days batch ids are kept"):
        store.write(batch)
    # Its ledger partition goes a day later still: clocks a little apart never let a retry past the ledger.
    assert [name for tier, name in history.upkeep(NOW + 2 * MS_PER_DAY).dropped if tier == "batches"] == []
    assert [name for tier, name in history.upkeep(NOW + 3 * MS_PER_DAY).dropped if tier == "batches"] == [
        "market_data_batches_p20260228"
    ]
    with conn.cursor() as cur:
        cur.execute("SELECT sum(sample_count) FROM market_data_daily")
        assert cur.fetchone()[0] == 2


def test_fencing_rows_of_feeds_no_longer_configured_are_removed(db) -> None:
    dsn, conn = db
    with conn.cursor() as cur:
        cur.execute("INSERT INTO feed_owners VALUES ('a', 1, 1, 5, '{}'), ('gone/3', 2, 2, 9, '{}')")
    assert PostgresHistory(pg_calls(dsn), KEPT, ["a", "b"]).upkeep(NOW).owners_removed == 1
    with conn.cursor() as cur:
        cur.execute("SELECT feed FROM feed_owners")
        assert cur.fetchall() == [("a",)]


def test_the_storage_command_prints_each_tables_partitions_and_what_goes_next(db, tmp_path) -> None:
    dsn, _ = db
    PostgresHistory(pg_calls(dsn), KEPT, ["a"]).upkeep(NOW)
    config = tmp_path / "marketflow.yaml"
    config.write_text(f"postgres:\n  dsn: {dsn}\nretention:\n  minutes_days: 2\n  hours_days: 4\n  days_days: 6\n")
    printed = run_command(build_app(config), "storage")
    assert printed.exit_code == 0, printed.output
    lines = [line.split(" | ") for line in printed.output.strip().splitlines()]
    assert lines[0] == ["| table", "kept", "partitions", "size", "oldest", "newest", "dropped next |"]
    rows = {line[0].removeprefix("| "): line[1:3] + line[4:] for line in lines[2:]}
    assert rows == {
        "market_data": [
            "2 days",
            "8",
            "market_data_p20260306",
            "market_data_p20260313",
            "market_data_p20260306 on 2026-03-09 |",
        ],
        "market_data_hourly": [
            "4 days",
            "1",
            "market_data_hourly_p202603",
            "market_data_hourly_p202603",
            "market_data_hourly_p202603 on 2026-04-05 |",
        ],
        "market_data_daily": [
            "6 days",
            "1",
            "market_data_daily_p2026",
            "market_data_daily_p2026",
            "market_data_daily_p2026 on 2027-01-07 |",
        ],
        "market_data_batches": [
            "8 days",
            "8",
            "market_data_batches_p20260306",
            "market_data_batches_p20260313",
            "market_data_batches_p20260306 on 2026-03-15 |",
        ],
    }
    assert all(line[3].endswith(" MiB") for line in lines[2:])


def test_the_storage_command_on_a_schema_not_yet_migrated_says_so(empty_db: str, tmp_path) -> None:
    config = tmp_path / "marketflow.yaml"
    config.write_text(f"postgres:\n  dsn: {empty_db}\n")
    printed = run_command(build_app(config), "storage")
    assert printed.exit_code == 1
    assert "the schema is at version 0 of 7: run `marketflow migrate`" in printed.output


def test_one_process_at_a_time_runs_a_round(db) -> None:
    dsn, conn = db
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (0x6D66_7570,))  # another process's round under way
        done = PostgresHistory(pg_calls(dsn), KEPT, ["a"]).upkeep(NOW)
        assert (done.held, done.created) == (False, 0)
        cur.execute("SELECT pg_advisory_unlock(%s)", (0x6D66_7570,))
    assert PostgresHistory(pg_calls(dsn), KEPT, ["a"]).upkeep(NOW).held


TABLES = ("market_data", "market_data_hourly", "market_data_daily", "feed_owners")


def test_the_partitioning_migration_moves_every_row_exactly(empty_db: str) -> None:
    """A database at version 6 with rows in every table; version 7 keeps each row as it was."""
    dsn = empty_db
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    migrate(conn, upto=6)
    with conn.cursor() as cur:
        # Minutes over a year boundary, a month boundary and a day boundary; nulls where version 4 allows.
        cur.execute(
            "INSERT INTO market_data SELECT 'BTCUSDT', e, t, 100 + n * 0.125, 99 - n % 3, 101 + n % 5, 1 + n % 4,"
            " CASE WHEN n % 3 = 0 THEN NULL ELSE 100.5 END, CASE WHEN n % 3 = 0 THEN NULL ELSE t END,"
            " 100.25, t + interval '59 s', CASE WHEN n % 2 = 0 THEN 1.5 END, 100.125, n % 7 <> 0"
            " FROM (SELECT e, t, row_number() OVER () AS n FROM unnest(ARRAY['ex1', 'ex2']) e,"
            " generate_series(timestamptz '2025-12-31 22:00Z', timestamptz '2026-01-02 02:00Z',"
            " interval '7 min') t) s"
        )
        cur.execute(
            "INSERT INTO market_data SELECT 'ETHUSDT', 'ex1', t, 2.5, 2, 3, 2, NULL, NULL, NULL, NULL, NULL, NULL,"
            " true FROM generate_series(timestamptz '2026-02-28 23:00Z', timestamptz '2026-03-01 01:00Z',"
            " interval '13 min') t"
        )
        for table, unit in (("market_data_hourly", "hour"), ("market_data_daily", "day")):
            cur.execute(
                f"INSERT INTO {table} SELECT pair_name, exchange, date_trunc('{unit}', timestamp, 'UTC'),"
                " avg(average_price), min(min_price), min(timestamp), max(max_price), max(timestamp),"
                " sum(sample_count), min(open_price), min(open_at), max(close_price), max(close_at), sum(volume),"
                " avg(vwap) FROM market_data GROUP BY 1, 2, 3"
            )
        cur.execute(
            "INSERT INTO market_data_batches VALUES ('b1', '2026-01-01 00:00:01.5Z'), ('b2', '2026-03-01 00:07Z')"
        )
        cur.execute("INSERT INTO feed_owners VALUES ('ex1', 30, 20, 7, '{25,30}'), ('ex2/1', 5, 5, 0, '{}')")
        before = {}
        for table in TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
            before[table] = cur.fetchall()
    assert all(before[table] for table in TABLES)
    assert migrate(conn) == [7]
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
            assert cur.fetchall() == before[table], table
        cur.execute("SELECT batch_id, newest_minute, applied_at FROM market_data_batches ORDER BY 1")
        assert [(b, n == a) for b, n, a in cur.fetchall()] == [("b1", True), ("b2", True)]
    # Every day from the first row's to the last one's: a partition for each, the empty ones between too.
    days = range(at("2025-12-31T00:00:00"), at("2026-03-01T00:00:01"), MS_PER_DAY)
    assert names(conn, "market_data") == [f"market_data_p{datetime.fromtimestamp(d / 1000, UTC):%Y%m%d}" for d in days]
    assert names(conn, "market_data_hourly") == [
        f"market_data_hourly_p{m}" for m in ("202512", "202601", "202602", "202603")
    ]
    assert names(conn, "market_data_daily") == ["market_data_daily_p2025", "market_data_daily_p2026"]
    batch_days = names(conn, "market_data_batches")
    assert (batch_days[0], batch_days[-1], len(batch_days)) == (
        "market_data_batches_p20260101",
        "market_data_batches_p20260301",
        60,
    )
    # A batch stored before the migration is still known by its id, whatever its newest minute.
    store = pg_store(dsn, Clock(at("2026-03-01T01:00:00") / 1000))
    store.write(MinuteBatch("b2", (MinuteRow("ex1", "ETHUSDT", at("2026-03-01T00:52:00"), 9, 1.0, 1.0, 1.0),), SEQ))
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM market_data ORDER BY 1, 2, 3")
        assert cur.fetchall() == before["market_data"]
    conn.close()
