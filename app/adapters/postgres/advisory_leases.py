"""The ``FeedLocks`` port on PostgreSQL session advisory locks: the leases' second store.

A process holds ``pg_try_advisory_lock(<prefix key>, <feed key>)`` for each
feed it reads, on one connection of its own, for as long as it reads it: a
holder that dies loses its locks with its session, at once. The leases go by
Redis; these locks are what keeps a feed to one reader while Redis does not
answer (docs/design.md, "Redis down"). A lock is named by the process that
holds it (the session's ``application_name``), so a session of ours that
lingers after its connection broke is told from another process's.

The fencing token of a lease taken here is PostgreSQL's clock
(``clock_timestamp()`` in microseconds), as Redis's clock is for Redis's:
the two are compared in ``feed_owners``, so their hosts' clocks must agree
(NTP) as closely as a takeover may be late.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import gevent
import psycopg2
import psycopg2.extensions

from app.adapters.breaker import Breaker

T = TypeVar("T")

# A feed's lock held here is taken for granted for this long after the session last answered: renewals of many
# feeds each poll cost one round trip, not one each.
VERIFIED_FOR = 0.5


def _key(text: str) -> int:
    """A signed 32-bit key, the same in every process."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big", signed=True)


class PostgresFeedLocks:
    """``prefix``: the deployment's namespace (``redis.key_prefix``); ``holder``: this process (``host:pid:run``)."""

    def __init__(
        self, dsn: str, connect_timeout: int, call_timeout: float, retry_after: float, prefix: str, holder: str
    ) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._namespace = _key(f"marketflow lease {prefix}")
        self.holder = holder
        # Shown in pg_stat_activity for every lock this session holds: who holds it.
        self._application_name = f"mf {holder}"[:63]
        self._conn: psycopg2.extensions.connection | None = None
        self._held: set[str] = set()
        self._answered_at = float("-inf")
        self._breaker = Breaker("postgres", retry_after, (psycopg2.Error, OSError, TimeoutError))

    def _run(self, work: Callable[[psycopg2.extensions.cursor], T]) -> T:
        def attempt() -> T:
            try:
                with gevent.Timeout(self._call_timeout):
                    if self._conn is None or self._conn.closed:
                        self._held.clear()  # a new session holds nothing yet
                        self._conn = psycopg2.connect(
                            self._dsn,
                            connect_timeout=self._connect_timeout,
                            application_name=self._application_name,
                            keepalives=1,
                            keepalives_idle=5,
                            keepalives_interval=2,
                            keepalives_count=2,
                        )
                        self._conn.autocommit = True
                    with self._conn.cursor() as cur:
                        result = work(cur)
                    self._answered_at = time.monotonic()
                    return result
            except gevent.Timeout:
                self._drop()
                raise TimeoutError(f"no answer within {self._call_timeout:g}s") from None
            except (psycopg2.Error, OSError):
                self._drop()
                raise

        return self._breaker.call(attempt)

    def _drop(self) -> None:
        """The session is gone or unusable: so are its locks (or they will be, once the server notices)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._held.clear()

    def lock(self, feed: str) -> bool:
        """Hold ``feed``'s lock: True once held (or already held here, or by a lingering session of ours);
        False when another process holds it."""
        if feed in self._held and time.monotonic() - self._answered_at < VERIFIED_FOR:
            return True

        def take(cur: psycopg2.extensions.cursor) -> bool:
            if feed in self._held:
                cur.execute("SELECT 1")  # the session, and so its locks, still alive
                return True
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (self._namespace, _key(feed)))
            if cur.fetchone()[0]:
                self._held.add(feed)
                return True
            return self._holders(cur, [feed])[feed] == self._application_name

        return self._run(take)

    def unlock(self, feed: str) -> None:
        def let_go(cur: psycopg2.extensions.cursor) -> None:
            if feed in self._held:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", (self._namespace, _key(feed)))
                self._held.discard(feed)

        self._run(let_go)

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        return self._run(lambda cur: self._holders(cur, feeds))

    def _holders(self, cur: psycopg2.extensions.cursor, feeds: Sequence[str]) -> dict[str, str | None]:
        keys = {_key(feed): feed for feed in feeds}
        cur.execute(
            "SELECT l.objid::int, coalesce(a.application_name, '') FROM pg_locks l"
            " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = %s AND l.objsubid = 2"
            " AND l.objid::int = ANY(%s)",
            (self._namespace, list(keys)),
        )
        found: dict[str, str | None] = dict.fromkeys(feeds)
        for objid, name in cur.fetchall():
            found[keys[objid]] = name or "a PostgreSQL session"
        return found

    def token(self) -> int:
        def now(cur: psycopg2.extensions.cursor) -> int:
            cur.execute("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
            return int(cur.fetchone()[0])

        return self._run(now)

    def close(self) -> None:
        """The session ends, and every lock with it."""
        self._drop()
