"""The PostgreSQL minute store as tests and benchmarks build it: on a small pool, with the default retention."""

import time
from collections.abc import Callable

from app.adapters.postgres.calls import PostgresCalls
from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.pool import ConnectionPool
from app.domain.retention import Retention

DEFAULT_RETENTION = Retention(35, 400, 0)


def pg_calls(dsn: str, call_timeout: float = 8.0, statement_timeout_ms: int = 5000) -> PostgresCalls:
    return PostgresCalls(ConnectionPool(dsn, 2, 5.0, 2, statement_timeout_ms), 0.2, call_timeout)


def pg_store(
    dsn: str,
    clock: Callable[[], float] = time.time,
    retention: Retention = DEFAULT_RETENTION,
    call_timeout: float = 8.0,
    statement_timeout_ms: int = 5000,
) -> PostgresMinuteStore:
    """``clock``: the store's now, which says what its retention and its batch ledger still take."""
    return PostgresMinuteStore(pg_calls(dsn, call_timeout, statement_timeout_ms), retention, clock)
