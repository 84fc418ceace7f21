"""A connection pool that waits cooperatively under gevent.

``psycopg2.pool`` is built for threads and raises at once when exhausted;
here a bounded semaphore makes callers wait (up to ``acquire_timeout``) and
a LIFO queue keeps the warmest connection on top.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
from gevent.lock import BoundedSemaphore
from gevent.queue import Empty, LifoQueue

from app.application.ports.storage import StorageUnavailable


class ConnectionPool:
    def __init__(
        self, dsn: str, size: int, acquire_timeout: float, connect_timeout: int, statement_timeout_ms: int
    ) -> None:
        self._dsn = dsn
        self._acquire_timeout = acquire_timeout
        self._connect_kwargs = {
            "connect_timeout": connect_timeout,
            "options": f"-c statement_timeout={statement_timeout_ms}",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "application_name": "marketflow",
        }
        self._slots = BoundedSemaphore(size)
        self._idle: LifoQueue = LifoQueue()

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """An autocommit connection; one that saw any error (or a timeout) is discarded, never reused."""
        if not self._slots.acquire(timeout=self._acquire_timeout):
            raise StorageUnavailable("postgres pool exhausted")
        conn = None
        try:
            conn = self._take()
            yield conn
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        finally:
            if conn is not None and not conn.closed:
                self._idle.put(conn)
            self._slots.release()

    def _take(self) -> psycopg2.extensions.connection:
        while True:
            try:
                conn = self._idle.get_nowait()
            except Empty:
                break
            if not conn.closed:
                return conn
        conn = psycopg2.connect(self._dsn, **self._connect_kwargs)
        conn.autocommit = True
        return conn

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except Empty:
                return
