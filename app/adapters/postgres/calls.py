"""Calls on the PostgreSQL pool: the schema migrated on first contact, a deadline on our side, a breaker.

``call_timeout`` bounds every call on our side: a server that stopped
answering (not down, just silent) would otherwise hold the caller until TCP
keepalives give up, and its own statement timeout can't fire. Each user
(the minute store, the history upkeep) has its own breaker, so a failed
upkeep never makes writes fail fast.
"""

import logging
from collections.abc import Callable
from typing import TypeVar

import gevent
import psycopg2
from psycopg2.extensions import cursor

from app.adapters.breaker import Breaker
from app.adapters.postgres.pool import ConnectionPool
from app.adapters.postgres.schema import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")


class PostgresCalls:
    def __init__(self, pool: ConnectionPool, retry_after: float, call_timeout: float) -> None:
        self._pool = pool
        self._breaker = Breaker("postgres", retry_after, (psycopg2.Error, OSError))
        self._call_timeout = call_timeout
        self._migrated = False

    def run(self, work: Callable[[cursor], T], timeout: float | None = None) -> T:
        """``work`` on a pooled autocommit connection; ``StorageUnavailable`` when it fails or outlasts ``timeout``."""
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
