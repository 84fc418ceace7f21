"""Shared fixtures: a fresh PostgreSQL database and a private Redis key space per run."""

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
import redis

ADMIN_DSN = os.environ.get("MARKETFLOW_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MARKETFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, dropped afterwards."""
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
