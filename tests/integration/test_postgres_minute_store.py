"""The PostgreSQL adapter against the machine's real server, in a database of our own."""

import math
import random
import threading
import uuid

import orjson
import psycopg2
import pytest

from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.schema import MIGRATIONS, migrate
from app.application.ports.storage import FeedFenced, StorageUnavailable
from app.domain.minutes import MinuteBatch, MinuteRow, SealMark
from app.domain.missed_trades import TradeGap
from app.domain.rollup import GRAINS, stored_ranges
from app.domain.stats import PriceStats
from app.domain.tick import Tick
from app.domain.time_grid import MS_PER_DAY, floor_to
from tests.support.fakes import SEQ
from tests.support.net import free_port
from tests.support.reference import summary
from tests.support.stores import pg_store

M = 1_763_712_000_000
MIN = 60_000


def store(dsn: str) -> PostgresMinuteStore:
    """A store whose now is a day after ``M``: every minute these tests write is within its retention."""
    return pg_store(dsn, lambda: (M + MS_PER_DAY) / 1000)


def spans(interval_ms: int, from_ms: int, to_ms: int) -> list[tuple[int, int, int]]:
    """The stored ranges of a candle span: rows of the grains dividing the interval."""
    return stored_ranges(from_ms, to_ms, tuple(grain for grain in GRAINS if interval_ms % grain == 0))


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
        SEQ,
    )
    s.write(batch)
    s.write(batch)
    assert rows(pg) == [
        ("BTCUSDT", "ex1", M, 100.625, 98.5, 103.0, 4),
        ("BTCUSDT", "ex1", M + 60_000, 10.0, 9.0, 11.0, 2),
        ("BTCUSDT", "ex2", M, 200.0, 200.0, 200.0, 1),
    ]


def test_any_name_and_any_float_reach_the_table_unchanged(pg_dsn: str, pg) -> None:
    """Rows travel as one array literal per column: quoting and float spelling must not bend a value."""
    s = store(pg_dsn)
    odd = 'ex "q\\,{x} NULL'
    prices = (0.1 + 0.2, 5e-324 * 10**10, 1.7976931348623157e300)
    s.write(MinuteBatch("odd", (MinuteRow(odd, "NULL", M, 3, prices[0], prices[1], prices[2]),), SEQ))
    assert rows(pg) == [("NULL", odd, M, *prices, 3)]


def test_deltas_of_the_same_minute_merge_weighted_by_count(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    s.write(MinuteBatch("a", (MinuteRow("ex1", "ETHUSDT", M, 2, 15.0, 10.0, 20.0),), SEQ))
    s.write(MinuteBatch("b", (MinuteRow("ex1", "ETHUSDT", M, 2, 17.5, 5.0, 30.0),), SEQ))
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
            SEQ,
        )
    )
    stats = s.summarize("SOLUSDT", ["ex1", "ex2"], stored_ranges(M, M + 120_000))
    assert (stats.count, stats.total) == (11, 580.0)
    assert (stats.low, stats.low_ts, stats.low_exchange) == (40.0, M, "ex1")
    assert (stats.high, stats.high_ts, stats.high_exchange) == (80.0, M + 60_000, "ex2")
    assert s.summarize("SOLUSDT", ["ex1"], stored_ranges(M + 60_000, M + 120_000)).count == 0


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
    start = floor_to(M, MS_PER_DAY) - 2 * MS_PER_DAY
    fed = minute_rows(rng, start, 4 * 24 * 60)
    # The same minutes arrive as several deltas in several batches, one batch twice (a retry).
    deltas = [*fed, *fed[::5]]
    batches = [MinuteBatch(f"b{i}", tuple(deltas[i : i + 300]), SEQ) for i in range(0, len(deltas), 300)]
    for batch in [*batches, batches[3]]:
        s.write(batch)
    expected = deltas
    for _ in range(60):
        lo = start + rng.randrange(4 * 24 * 60) * MIN
        hi = lo + rng.randrange(1, 4 * 24 * 60) * MIN
        assert summary(s.summarize("BTCUSDT", ["ex1", "ex2"], stored_ranges(lo, hi))) == brute_force(
            expected, lo, hi
        ), (lo, hi)
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
        assert migrate(conn) == list(range(2, len(MIGRATIONS) + 1))
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
    migrate(pg)  # whatever ran before in this database
    assert migrate(pg) == []
    with pg.cursor() as cur:
        cur.execute("SELECT max(version) FROM schema_migrations")
        assert cur.fetchone()[0] == len(MIGRATIONS)


def test_an_unreachable_server_is_storage_unavailable() -> None:
    s = store(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    with pytest.raises(StorageUnavailable):
        s.write(MinuteBatch("x", (MinuteRow("ex1", "BTCUSDT", M, 1, 1.0, 1.0, 1.0),), SEQ))
    with pytest.raises(StorageUnavailable):
        s.ping()


def test_a_batch_replayed_from_the_spool_after_a_crash_is_not_counted_twice(pg_dsn: str, pg, tmp_path) -> None:
    """The crash came after PostgreSQL committed the batch but before the spool heard of it."""
    from app.adapters.spool.file_spool import FileSpool
    from app.application.aggregator import MinuteAggregator

    s = store(pg_dsn)
    batch = MinuteBatch("crash-1", (MinuteRow("ex1", "TONUSDT", M, 3, 5.5, 5.25, 5.75),), SEQ)
    spool = FileSpool(tmp_path / "spool.jsonl", 1 << 20, "test-run")
    spool.append(batch)
    s.write(batch)  # committed; the ack never happened
    spool.close()  # the process dies
    revived = MinuteAggregator(s, FileSpool(tmp_path / "spool.jsonl", 1 << 20, "next"), grace_ms=0)
    assert revived.unsent_batches == 1
    assert revived.flush()
    assert rows(pg) == [("TONUSDT", "ex1", M, 5.5, 5.25, 5.75, 3)]
    assert revived.unsent_batches == 0


def test_a_batch_the_store_refuses_is_set_aside_and_the_next_ones_are_written(pg_dsn: str, pg, tmp_path) -> None:
    """One poisoned batch must never block every minute after it (it used to be retried forever)."""
    from app.adapters.spool.file_spool import FileSpool
    from app.application.aggregator import MinuteAggregator

    spool = FileSpool(tmp_path / "spool.jsonl", 1 << 20, "test-run")
    s = store(pg_dsn)
    spool.append(MinuteBatch("poisoned", (MinuteRow("ex1", "BTCUSDT", M, 0, 1.0, 1.0, 1.0),), SEQ))  # count 0
    spool.append(MinuteBatch("fine", (MinuteRow("ex1", "BTCUSDT", M + MIN, 2, 5.0, 4.0, 6.0),), SEQ))
    aggregator = MinuteAggregator(s, spool, grace_ms=0)
    assert aggregator.flush()
    assert rows(pg) == [("BTCUSDT", "ex1", M + MIN, 5.0, 4.0, 6.0, 2)]
    assert (aggregator.unsent_batches, aggregator.batches_set_aside) == (0, 1)
    dead = [orjson.loads(line) for line in spool.dead_path.read_bytes().splitlines()]
    assert [(entry["batch"], entry["rows"][0][3]) for entry in dead] == [("poisoned", 0)]
    assert "CheckViolation" in dead[0]["error"] or "check" in dead[0]["error"].lower()
    s.ping()  # the server was never taken for down
    assert spool.pending() == []


def test_rows_of_a_feed_claimed_by_a_newer_token_are_refused_and_the_rest_written(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    row = MinuteRow("ex1", "BTCUSDT", M, 2, 5.0, 4.0, 6.0)
    assert s.claim("ex1", 10) == []  # nobody had read it: nothing to replay
    assert s.write(MinuteBatch("a1", (row,), 7, {"ex1": 10})) == []
    assert s.claim("ex1", 20) == [SealMark(10, 7)]  # the successor learns how far lease 10 got
    assert s.claim("ex1", 20) == [SealMark(10, 7)]  # a retried claim: the mark moves only with a stored batch
    late = MinuteBatch(
        "a2",
        (MinuteRow("ex1", "BTCUSDT", M, 1, 100.0, 100.0, 100.0), MinuteRow("ex2", "BTCUSDT", M, 1, 7.0, 7.0, 7.0)),
        9,
        {"ex1": 10, "ex2": 11},
    )
    assert s.write(late) == ["ex1"]  # the paused owner's ex1 rows: refused; its ex2 rows: written
    assert rows(pg) == [("BTCUSDT", "ex1", M, 5.0, 4.0, 6.0, 2), ("BTCUSDT", "ex2", M, 7.0, 7.0, 7.0, 1)]
    with pytest.raises(FeedFenced):
        s.claim("ex1", 15)  # an older token never takes it back
    assert s.claim("ex1", 25) == [SealMark(10, 7), SealMark(20, 0)]  # lease 20 died before storing its replay
    assert s.write(MinuteBatch("replay:25", (), 0, {"ex1": 25})) == []  # the replay found nothing
    assert s.claim("ex1", 30) == [SealMark(25, 0)]
    newer = MinuteBatch("b1", (MinuteRow("ex1", "BTCUSDT", M, 1, 8.0, 8.0, 8.0),), 3, {"ex1": 25})
    assert s.write(newer) == ["ex1"]  # lease 30 holds it now
    with pg.cursor() as cur:
        cur.execute("SELECT sum(sample_count) FROM market_data_hourly WHERE exchange = 'ex1'")
        assert cur.fetchone()[0] == 2  # the rollups were fenced alike


def test_a_claim_made_while_the_old_owners_write_is_in_flight_sees_that_write(pg_dsn: str, pg) -> None:
    """The old owner's last flush and the successor's claim at once: the claim waits and learns the new mark,
    so the successor replays nothing the old owner stored."""
    s = store(pg_dsn)
    assert s.claim("ex1", 10) == []
    assert s.write(MinuteBatch("w1", (MinuteRow("ex1", "BTCUSDT", M, 1, 5.0, 5.0, 5.0),), 5, {"ex1": 10})) == []
    old_owner = psycopg2.connect(pg_dsn)
    with old_owner.cursor() as cur:  # the write's fence step, not yet committed
        cur.execute("UPDATE feed_owners SET mark_seq = 10 WHERE feed = 'ex1'")
    answers: list[list[SealMark]] = []
    claim = threading.Thread(target=lambda: answers.append(s.claim("ex1", 20)))
    claim.start()
    claim.join(0.5)
    assert claim.is_alive()  # it waits for the write in flight
    old_owner.commit()
    claim.join(5)
    old_owner.close()
    assert answers == [[SealMark(10, 10)]]


def trades(rng: random.Random, start: int, minutes: int) -> list[Tick]:
    """Ticks in arrival (seq) order, some sharing a millisecond, some late, some with a quantity."""
    ticks = []
    for seq in range(1, 4000):
        ts = start + rng.randrange(minutes) * MIN + rng.choice([0, 1, 59_999, rng.randrange(MIN)])
        price = rng.choice([99.5, 100.0, 100.25, 101.0])
        ticks.append(Tick(rng.choice(["ex1", "ex2"]), "BTCUSDT", price, ts, seq, rng.choice([None, 0.5, 1.25])))
    return ticks


def brute_candles(ticks: list[Tick], exchanges: set[str], interval: int, lo: int, hi: int) -> list[tuple]:
    """Per candle: count, low, high, open and close (trade time, then arrival), volume and VWAP of the ticks
    with a quantity."""
    groups: dict[int, list[Tick]] = {}
    for tick in ticks:
        if tick.exchange in exchanges and lo <= tick.ts_ms < hi:
            groups.setdefault(floor_to(tick.ts_ms, interval), []).append(tick)
    out = []
    for start, group in sorted(groups.items()):
        # Across exchanges, a tie in trade time goes to the exchange named first (open) or last (close).
        ordered = sorted(group, key=lambda t: (t.ts_ms, t.exchange, t.seq))
        quantified = [t for t in group if t.quantity is not None]
        volume = sum(t.quantity for t in quantified) if quantified else None
        vwap = sum(t.price * t.quantity for t in quantified) / volume if quantified else None
        prices = [t.price for t in group]
        out.append((start, len(group), min(prices), max(prices), ordered[0].price, ordered[-1].price, volume, vwap))
    return out


def stored_candles(pieces: list[tuple[int, PriceStats]]) -> list[tuple]:
    return [(start, s.count, s.low, s.high, s.first, s.last, s.volume, s.vwap) for start, s in pieces]


def close(got: list[tuple], want: list[tuple]) -> bool:
    """Equal, volume and VWAP to 1e-12 (they are merged in floating point), null where the brute force has null."""

    def near(a: float | None, b: float | None) -> bool:
        return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12))

    return len(got) == len(want) and all(
        g[:6] == w[:6] and near(g[6], w[6]) and near(g[7], w[7]) for g, w in zip(got, want, strict=True)
    )


def test_open_close_volume_and_vwap_merge_exactly_across_deltas_into_every_grain(pg_dsn: str, pg) -> None:
    rng = random.Random(9)
    s = store(pg_dsn)
    start = floor_to(M, MS_PER_DAY) - MS_PER_DAY
    ticks = trades(rng, start, 2 * 24 * 60)
    # Sealed in arrival order at random checkpoints: every minute arrives as several deltas.
    cuts = sorted(rng.sample(range(1, len(ticks)), 12))
    for n, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, len(ticks)], strict=True)):
        open_minutes: dict[tuple, PriceStats] = {}
        for tick in ticks[lo:hi]:
            stats = open_minutes.setdefault((tick.exchange, tick.ts_ms - tick.ts_ms % MIN), PriceStats())
            stats.add(tick.exchange, tick.price, tick.ts_ms, tick.quantity)
        rows = tuple(MinuteRow.of(ex, ex, "BTCUSDT", minute, stats) for (ex, minute), stats in open_minutes.items())
        s.write(MinuteBatch(f"d{n}", rows, SEQ))
        s.write(MinuteBatch(f"d{n}", rows, SEQ))  # a retry
    for interval in (MIN, 5 * MIN, 60 * MIN, 4 * 60 * MIN, MS_PER_DAY):
        for exchanges in (["ex1"], ["ex1", "ex2"]):
            got = stored_candles(
                s.candles("BTCUSDT", exchanges, interval, spans(interval, start, start + 2 * MS_PER_DAY))
            )
            want = brute_candles(ticks, set(exchanges), interval, start, start + 2 * MS_PER_DAY)
            assert close(got, want), (interval, exchanges)
    # A span that is not aligned to hours reads minutes around the hours (and days) it covers.
    lo, hi = start + 37 * MIN, start + MS_PER_DAY + 3 * 60 * MIN + 23 * MIN
    got = stored_candles(s.candles("BTCUSDT", ["ex2"], MIN, spans(MIN, lo, hi)))
    assert close(got, brute_candles(ticks, {"ex2"}, MIN, lo, hi))


def test_minutes_without_open_and_close_leave_them_null_and_never_win(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    s.write(MinuteBatch("old", (MinuteRow("ex1", "DOGEUSDT", M, 2, 1.5, 1.0, 2.0),), SEQ))
    (only,) = s.candles("DOGEUSDT", ["ex1"], MIN, spans(MIN, M, M + MIN))
    assert (only[1].count, math.isnan(only[1].first), math.isnan(only[1].last), only[1].volume) == (2, True, True, None)
    s.write(
        MinuteBatch("new", (MinuteRow("ex1", "DOGEUSDT", M + MIN, 1, 3.0, 3.0, 3.0, 3.0, M + MIN, 3.0, M + MIN),), SEQ)
    )
    (hour,) = s.candles("DOGEUSDT", ["ex1"], 60 * MIN, spans(60 * MIN, M - M % (60 * MIN), M + 2 * MIN))
    assert (hour[1].count, hour[1].first, hour[1].last) == (3, 3.0, 3.0)


def test_the_minutes_a_gap_touches_are_marked_incomplete_and_stay_so(pg_dsn: str, pg) -> None:
    s = store(pg_dsn)
    minutes = [MinuteRow(ex, "BTCUSDT", M + i * MIN, 1, 5.0, 5.0, 5.0) for ex in ("ex1", "ex2") for i in range(4)]
    s.write(MinuteBatch(uuid.uuid4().hex, tuple(minutes), SEQ))
    s.mark_incomplete(TradeGap("ex1", "BTCUSDT", M + MIN + 30_000, M + 2 * MIN + 1, 3))
    s.write(MinuteBatch(uuid.uuid4().hex, (MinuteRow("ex1", "BTCUSDT", M + MIN, 2, 7.0, 6.0, 8.0),), SEQ))
    with pg.cursor() as cur:
        cur.execute(
            "SELECT exchange, (extract(epoch FROM timestamp) * 1000)::bigint FROM market_data"
            " WHERE NOT complete ORDER BY 1, 2"
        )
        assert cur.fetchall() == [("ex1", M + MIN), ("ex1", M + 2 * MIN)]


def test_each_shard_of_an_exchange_is_fenced_on_its_own(pg_dsn: str, pg) -> None:
    """Two shards of one exchange, read by two processes: a newer token on one refuses that shard's rows only,
    and the rollups of its symbols alike."""
    s = store(pg_dsn)
    assert s.claim("ex1/0", 10) == []
    assert s.claim("ex1/1", 11) == []
    assert s.claim("ex1/0", 20) == [SealMark(10, 0)]  # shard 0 taken over; shard 1 still read under 11
    late = MinuteBatch(
        "s1",
        (
            MinuteRow("ex1", "BTCUSDT", M, 1, 100.0, 100.0, 100.0, feed="ex1/0"),
            MinuteRow("ex1", "ETHUSDT", M, 2, 7.0, 6.0, 8.0, feed="ex1/1"),
        ),
        9,
        {"ex1/0": 10, "ex1/1": 11},
    )
    assert s.write(late) == ["ex1/0"]
    assert rows(pg) == [("ETHUSDT", "ex1", M, 7.0, 6.0, 8.0, 2)]
    with pg.cursor() as cur:
        cur.execute("SELECT pair_name, sum(sample_count) FROM market_data_daily GROUP BY 1")
        assert cur.fetchall() == [("ETHUSDT", 2)]
    assert s.claim("ex1/1", 30) == [SealMark(11, 9)]  # shard 1's mark moved with its stored rows


def test_the_feed_owners_migration_keeps_every_claim(empty_db: str) -> None:
    """Version 6 renames the key: claims made before it are the same feeds' claims after it."""
    conn = psycopg2.connect(empty_db)
    conn.autocommit = True
    migrate(conn, upto=5)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO feed_owners VALUES ('ex1', 30, 20, 7, '{25,30}')")
    assert migrate(conn) == [6, 7]
    conn.close()
    assert store(empty_db).claim("ex1", 40) == [SealMark(20, 7), SealMark(25, 0), SealMark(30, 0)]
