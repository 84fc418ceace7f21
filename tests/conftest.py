"""Shared fixtures: a fresh PostgreSQL database per run, a private Redis key space per test, loopback
exchanges, and the configuration a service under test (in-process or gunicorn) is built from."""

import os
import ssl
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
import redis
import trustme

from tests.support.net import LineExchange
from tests.support.redis_cluster import RedisClusterServers
from tests.support.throwaway import RedisServer

ADMIN_DSN = os.environ.get("MARKETFLOW_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MARKETFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, dropped afterwards (one per xdist worker)."""
    name = f"mf_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    base, _, _ = ADMIN_DSN.rpartition("/")
    yield f"{base}/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def empty_db(pg_dsn: str) -> Iterator[str]:
    """The DSN of a database of this test's own, empty (no schema), dropped afterwards."""
    name = f"mf_own_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    yield pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg2.extensions.connection]:
    """A connection to the test database with an empty ``market_data``."""
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('market_data')")
        if cur.fetchone()[0]:
            cur.execute("TRUNCATE market_data, market_data_batches, market_data_hourly, market_data_daily, feed_owners")
    yield conn
    conn.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"mftest{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own on a free port (nothing saved), to kill and restart; killed at the end."""
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def exchanges() -> Iterator[list[LineExchange]]:
    """Three stand-ins for the exchange programs, on free loopback ports."""
    started = [LineExchange() for _ in range(3)]
    yield started
    for exchange in started:
        exchange.close()


def deep_merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


@pytest.fixture
def make_config(pg_dsn: str, redis_prefix: str, exchanges: list[LineExchange]) -> Callable[..., dict]:
    """A service's configuration: this test's Redis prefix, the run's database, the three loopback exchanges.

    Leases of 1 s (a renewal every 0.125 s): a process alone takes its feeds in about 0.3 s instead of the
    2 s the default 8 s TTL takes. Tests of takeovers between processes set their own.
    """

    def build(mode: str = "live", **sections: dict) -> dict:
        config = {
            "mode": mode,
            "redis": {"url": REDIS_URL, "key_prefix": redis_prefix},
            "postgres": {"dsn": pg_dsn},
            "window": {"raw_seconds": 60},
            "leases": {"ttl_seconds": 1.0},
            "aggregator": {"close_grace_seconds": 0.5, "flush_interval_seconds": 0.2},
            "sources": {
                "live": {
                    "tcp": [{"name": f"exchange{i}", "port": ex.port} for i, ex in enumerate(exchanges, start=1)],
                    # Never the real exchanges: tests talk to loopback only.
                    "websocket": [],
                    "reconnect_initial_seconds": 0.1,
                    "reconnect_max_seconds": 0.5,
                },
            },
        }
        return deep_merge(config, sections)

    return build


@pytest.fixture
def private_ca(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for ``localhost`` signed by a throwaway CA, and that CA's PEM file."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, str(ca_file)


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A Redis Cluster of 3 masters and 3 replicas of this module's own (its tests may kill masters)."""
    servers = RedisClusterServers().start()
    yield servers
    servers.destroy()
