"""Two gunicorn masters of two workers each, as two hosts sharing one Redis and one PostgreSQL.

Every exchange program must see one connection per feed, answers from any
worker must be exact, and a kill -9 of the owning worker and then of a
whole master must move the feeds within the lease TTL with every tick
counted once in the stored minutes.
"""

import os
import signal
import time
from collections.abc import Callable

import psycopg2

from app.adapters.feeds.wire_line import encode_line
from tests.support.metrics import scrape, summed
from tests.support.net import LineExchange, free_port, wait_for
from tests.support.service import Service, Starter
from tests.support.throwaway import PostgresServer, RedisServer

TTL = 4.0
# A takeover is due within the TTL; this much more is the test's own polling and a shared machine's scheduling.
SLACK = 1.5
FEEDS = ["exchange1", "exchange2", "exchange3"]
# Where no takeover is timed: shorter waits.
SHORT_TTL = 2.0


# What each feed's count is read from: its BTCUSDT.
PAIRS = {feed: f"{feed}/BTCUSDT" for feed in FEEDS}


Sent = dict[str, list[tuple[float, int]]]  # per feed: (price, ms) of every tick sent


def send(exchanges: list[LineExchange], sent: Sent, n: int) -> None:
    now = int(time.time() * 1000)
    for i, exchange in enumerate(exchanges, start=1):
        ticks = [(1000.0 * i + len(sent[f"exchange{i}"]) + k / 8, now - n + k) for k in range(n)]
        exchange.send(*(encode_line("BTCUSDT", price, ts) for price, ts in ticks))
        sent[f"exchange{i}"].extend(ticks)


def test_feeds_are_read_once_across_hosts_and_survive_kill_9_of_a_worker_and_of_a_host(
    make_config: Callable[..., dict],
    start_service: Starter[Service],
    exchanges: list[LineExchange],
    pg_dsn: str,
    pg: object,
) -> None:
    config = make_config(
        http={"workers": 2},
        leases={"ttl_seconds": TTL},
        aggregator={"checkpoint_seconds": 3600.0, "close_grace_seconds": 0.5, "flush_interval_seconds": 0.2},
    )
    first, second = start_service.together(config, config)
    sent: Sent = {feed: [] for feed in FEEDS}
    try:
        # Workers that boot late find the feeds taken by those that booted first, which hand the extra ones over.
        wait_for(
            lambda: all(first.owners().values()) and len(set(first.owners().values())) == 3,
            timeout=20,
            message="one feed each, over four processes",
        )
        shared_out = [exchange.connections for exchange in exchanges]
        time.sleep(2 * TTL)  # once shared out, nobody reaches for a feed already read
        assert [exchange.connections for exchange in exchanges] == shared_out
        assert len(set(first.owners().values())) == 3

        send(exchanges, sent, 20)
        expected = {feed: len(prices) for feed, prices in sent.items()}
        for service in (first, second):  # any worker of any host answers for every feed
            wait_for(lambda s=service: s.trade_counts(PAIRS) == expected, timeout=10, message="20 ticks per feed")
        # Any worker's scrape shows every process of its host (both masters run on this one) and so every feed
        # once: the feed counters summed over processes are the ticks sent.
        for _ in range(4):
            wait_for(
                lambda: summed(scrape(first), "marketflow_source_ticks_total", "source") == expected,
                timeout=5,
                message="every feed's ticks in one scrape",
            )
            assert len(summed(scrape(second), "marketflow_ticks_total", "process")) == 4

        victim = first.owners()["exchange1"]
        os.kill(int(victim.rsplit(":", 1)[1]), signal.SIGKILL)  # kill -9 of the worker reading exchange1
        wait_for(lambda: exchanges[0].connections == 2, timeout=TTL + SLACK, message="exchange1 taken over")
        wait_for(lambda: first.owners()["exchange1"] not in (None, victim), timeout=10, message="new owner shown")
        send(exchanges, sent, 10)
        expected = {feed: len(prices) for feed, prices in sent.items()}
        wait_for(lambda: second.trade_counts(PAIRS) == expected, timeout=10, message="30 ticks per feed")

        shown = wait_for(lambda: all(second.owners().values()) and second.owners(), timeout=5, message="owners shown")
        on_second = [feed for feed, owner in shown.items() if owner.rsplit(":", 1)[1] in _pids(second)]
        second.crash()  # kill -9 of a whole host, master and workers
        before = [exchange.connections for exchange in exchanges]
        for i, feed in enumerate(FEEDS):
            if feed in on_second:
                wait_for(lambda i=i: exchanges[i].connections > before[i], timeout=TTL + SLACK, message=f"{feed} taken")
        send(exchanges, sent, 5)
        expected = {feed: len(prices) for feed, prices in sent.items()}
        wait_for(lambda: first.trade_counts(PAIRS) == expected, timeout=10, message="every tick, once")

        status, _ = first.post("/mode/test")
        assert status == 200
        for _ in range(8):  # both workers answer alike, within a second
            wait_for(lambda: first.get("/mode")[1]["mode"] == "test", timeout=1.5, message="mode seen everywhere")
    finally:
        first.stop()
        second.stop()

    assert_stored_exactly(pg_dsn, sent)


def assert_stored_exactly(dsn: str, sent: Sent, symbol: str = "BTCUSDT") -> None:
    """Every stored minute of every feed holds the ticks sent in it exactly once: count, extremes and mean."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT exchange, (extract(epoch FROM timestamp) * 1000)::bigint, sample_count, average_price,"
            " min_price, max_price FROM market_data WHERE pair_name = %s ORDER BY 1, 2",
            (symbol,),
        )
        stored = {(row[0], row[1]): row[2:] for row in cur.fetchall()}
    expected: dict[tuple[str, int], list[float]] = {}
    for feed, ticks in sent.items():
        for price, ts in ticks:
            expected.setdefault((feed, ts - ts % 60_000), []).append(price)
    assert sorted(stored) == sorted(expected)  # no minute missing, none extra
    for key, prices in expected.items():
        count, mean, low, high = stored[key]
        assert (key, count, low, high) == (key, len(prices), min(prices), max(prices))
        assert abs(mean - sum(prices) / len(prices)) < 1e-9 * max(prices)


def send_and_count(exchanges: list[LineExchange], sent: Sent, service: Service) -> None:
    """Ten ticks per feed, once the service answers for all of them."""
    send(exchanges, sent, 10)
    expected = {feed: len(prices) for feed, prices in sent.items()}
    wait_for(lambda: service.trade_counts(PAIRS) == expected, timeout=10, message="10 more ticks per feed")


def two_hosts(start_service: Starter[Service], config: dict, exchanges: list[LineExchange]) -> tuple[Service, Service]:
    """Two masters of one worker each (a worker's pid is the one /health names), started together: a host that
    came up later than its feeds' first take would have one handed over to it (a second connection)."""
    first, second = start_service.together(config, config)
    wait_for(lambda: all(first.owners().values()), timeout=20, message="every feed owned")
    for exchange in exchanges:  # and each connection accepted by its stand-in, which sends only to those
        exchange.wait_connected()
    return first, second


def test_an_owner_paused_past_its_lease_never_counts_what_it_read_meanwhile(
    make_config: Callable[..., dict],
    start_service: Starter[Service],
    exchanges: list[LineExchange],
    pg_dsn: str,
    pg: object,
) -> None:
    config = make_config(http={"workers": 1}, leases={"ttl_seconds": TTL}, aggregator={"checkpoint_seconds": 3600.0})
    first, second = two_hosts(start_service, config, exchanges)
    sent: Sent = {feed: [] for feed in FEEDS}
    try:
        send_and_count(exchanges, sent, first)
        owners = first.owners()
        paused = owners["exchange1"]
        held = [exchanges[FEEDS.index(feed)] for feed, owner in owners.items() if owner == paused]
        pid = int(paused.rsplit(":", 1)[1])
        os.kill(pid, signal.SIGSTOP)
        try:
            # Every feed the paused owner held taken over (a stand-in sends to the connections it has: a feed
            # sent to before its new owner connected reached only the paused owner, whose reads never count).
            wait_for(
                lambda: all(exchange.connections == 2 for exchange in held),
                timeout=TTL + SLACK,
                message="the paused owner's feeds taken over",
            )
            send(exchanges, sent, 10)  # the paused owner's socket still gets these, into its buffer
            time.sleep(0.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        expected = {feed: len(prices) for feed, prices in sent.items()}
        wait_for(lambda: first.trade_counts(PAIRS) == expected and second.trade_counts(PAIRS) == expected, timeout=10)
        time.sleep(2 * TTL)  # had the woken owner counted its buffer, it would show by now
        assert first.trade_counts(PAIRS) == expected == second.trade_counts(PAIRS)
    finally:
        first.stop()
        second.stop()
    assert_stored_exactly(pg_dsn, sent)


def test_while_redis_is_down_owners_keep_feeding_postgres_and_nobody_else_starts_a_feed(
    make_config: Callable[..., dict],
    start_service: Starter[Service],
    exchanges: list[LineExchange],
    pg_dsn: str,
    pg: object,
) -> None:
    cache = RedisServer().start()
    config = make_config(
        http={"workers": 1},
        redis={"url": cache.url, "socket_timeout": 0.3, "retry_after": 0.5},
        leases={"ttl_seconds": TTL},
        aggregator={"checkpoint_seconds": 1.0},
    )
    first, second = two_hosts(start_service, config, exchanges)
    sent: Sent = {feed: [] for feed in FEEDS}
    try:
        send_and_count(exchanges, sent, first)
        before = first.owners()
        cache.kill()
        send(exchanges, sent, 10)
        time.sleep(2 * TTL)  # far past every lease
        assert [exchange.connections for exchange in exchanges] == [1, 1, 1]  # nobody else started a feed
        cache.start()  # empty: every lease is gone
        time.sleep(2 * TTL)
        assert [exchange.connections for exchange in exchanges] == [1, 1, 1]  # owners took their own leases back
        assert first.owners() == before
        send(exchanges, sent, 10)
        # Redis lost the older ticks; the stored minutes still hold them (checked below).
        wait_for(lambda: second.owners() == before, timeout=10, message="owners shown again")
    finally:
        first.stop()
        second.stop()
        cache.kill()
    assert_stored_exactly(pg_dsn, sent)


def _pids(service: Service) -> set[str]:
    """The master's pid and its workers' (the service's process group)."""
    group = os.getpgid(service.process.pid)
    return {entry for entry in os.listdir("/proc") if entry.isdigit() and _group_of(int(entry)) == group}


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_two_hosts_started_with_the_stores_down_read_each_feed_once_from_postgresql_and_keep_them_with_redis(
    make_config: Callable[..., dict], start_service: Starter[Service], exchanges: list[LineExchange]
) -> None:
    """Both stores unreachable at start: nobody can know who reads what, so nobody reads. PostgreSQL appears:
    its locks keep each feed to one reader (without Redis the processes can't count each other, so the first
    takes what it can). Redis appears: the feeds are shared out again, a feed handed over as at any share-out.
    Nothing is read twice at once, nor counted twice."""
    cache, db = RedisServer(free_port()), PostgresServer(free_port())  # not started yet
    config = make_config(
        http={"workers": 1},
        redis={"url": cache.url, "socket_timeout": 0.3, "retry_after": 0.5},
        postgres={"dsn": db.dsn, "connect_timeout": 1, "statement_timeout_ms": 1000, "retry_after": 0.5},
        leases={"ttl_seconds": SHORT_TTL},
        aggregator={"checkpoint_seconds": 1.0},
    )
    first, second = start_service.together(config, config)
    sent: Sent = {feed: [] for feed in FEEDS}
    try:
        time.sleep(SHORT_TTL)
        assert [exchange.connections for exchange in exchanges] == [0, 0, 0]  # nothing can tell who reads
        db.start()
        for exchange in exchanges:
            exchange.wait_connected()
        time.sleep(SHORT_TTL)
        assert [exchange.connections for exchange in exchanges] == [1, 1, 1]  # each feed read by one process
        send(exchanges, sent, 10)
        time.sleep(1)
        cache.start()
        wait_for(
            lambda: first.owners() == second.owners() and len(set(first.owners().values()) - {None}) == 2,
            timeout=20,
            message="the feeds shared out over both hosts",
        )
        shared_out = [exchange.connections for exchange in exchanges]
        assert sum(shared_out) <= 3 + 2  # at most the feeds handed to the host that had none
        send_and_count(exchanges, sent, first)
        time.sleep(2 * SHORT_TTL)
        assert [exchange.connections for exchange in exchanges] == shared_out  # owners keep their feeds
    finally:
        first.stop()
        second.stop()
        cache.kill()
    try:
        assert_stored_exactly(db.dsn, sent)
    finally:
        db.destroy()
