"""The leases' fallback locks against the real things: PostgreSQL's session advisory locks and this host's
file locks."""

from pathlib import Path

import psycopg2
import pytest

from app.adapters.local.host_feed_locks import HOLDER, HostFeedLocks
from app.adapters.postgres.advisory_leases import PostgresFeedLocks
from app.application.ports.storage import StorageUnavailable
from tests.support.net import free_port, wait_for


def locks(dsn: str, holder: str, prefix: str = "mfx") -> PostgresFeedLocks:
    return PostgresFeedLocks(dsn, 1, 3.0, 0.2, prefix, holder)


def test_a_feed_is_locked_by_one_session_until_it_unlocks_or_ends(pg_dsn: str, redis_prefix: str) -> None:
    a, b = locks(pg_dsn, "h:1:r1", redis_prefix), locks(pg_dsn, "h:2:r2", redis_prefix)
    other_deployment = locks(pg_dsn, "h:3:r3", f"{redis_prefix}x")
    try:
        assert a.lock("ex1") is True
        assert a.lock("ex1") is True  # held: still ours
        assert b.lock("ex1") is False
        assert other_deployment.lock("ex1") is True  # another key prefix, another namespace
        assert b.holders(["ex1", "binance/3"]) == {"ex1": "mf h:1:r1", "binance/3": None}
        a.unlock("ex1")
        assert b.lock("ex1") is True
        b.close()  # the session ends, and its locks with it (once the server has seen it end: not at once)
        wait_for(lambda: a.lock("ex1"), timeout=5, message="the lock of a closed session released")
        before = a.token()
        with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
            assert before <= cur.fetchone()[0] <= a.token()
    finally:
        for held in (a, b, other_deployment):
            held.close()


def test_unreachable_postgresql_raises_and_holds_nothing() -> None:
    gone = locks(f"postgresql://postgres@127.0.0.1:{free_port()}/x", "h:1:r1")
    with pytest.raises(StorageUnavailable):
        gone.lock("ex1")
    with pytest.raises(StorageUnavailable):
        gone.holders(["ex1"])


def test_host_locks_keep_a_feed_to_one_holder_until_it_lets_go(tmp_path: Path) -> None:
    a, b = HostFeedLocks(tmp_path / "leases"), HostFeedLocks(tmp_path / "leases")
    assert a.lock("binance/0") is True
    assert a.lock("binance/0") is True
    assert b.lock("binance/0") is False
    assert b.holders(["binance/0", "binance/1"]) == {"binance/0": HOLDER, "binance/1": None}
    assert b.lock("binance/1") is True
    a.close()
    assert b.lock("binance/0") is True
    assert b.token() > 1_700_000_000_000_000
