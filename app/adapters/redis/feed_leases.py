"""The ``FeedLeases`` and ``ProcessRegistry`` ports on Redis.

- ``<p>:lease:{<exchange>}[/<shard>]``: a redis-py ``Lock`` with a TTL; its value names the
  holder (``host:pid:run``), so a lease is held by exactly one process and
  lapses by itself when that process dies or stops renewing it.
- The fencing token of a lease is Redis's own clock (``TIME``, in
  microseconds; on a cluster, the clock of the master holding the lease)
  read once the lock is held, and kept only if the lock is still held after
  the read: it is newer than the token of any earlier holder, whose lease
  had to end first, and older than any later holder's, which could take the
  lock only after that check. It stays so after Redis restarts empty (a
  counter would start again at 1); it assumes Redis's clock does not step
  back (docs/design.md, "Fencing").
- ``<p>:{registry}:process:<run>``: each process's heartbeat, a JSON summary with a
  TTL, which is how processes count each other (to share the feeds out)
  and how ``/health`` in any of them shows all of them.
- ``<p>:{registry}:processes``: a set of the runs that sent a heartbeat, so they are
  found without scanning the key space. The heartbeat's TTL alone decides
  who is alive: a run whose heartbeat lapsed is dropped from the set by the
  next reader, and a live one adds itself back with every heartbeat.
"""

import contextlib
from collections.abc import Sequence

import orjson
from redis.exceptions import LockError
from redis.lock import Lock

from app.adapters.breaker import Breaker
from app.adapters.redis.clients import REDIS_ERRORS, Client, clock_us
from app.adapters.redis.keys import RedisKeys
from app.application.process_report import ProcessReport
from app.domain.time_grid import seconds_to_ms


class RedisFeedLeases:
    """``process``: this process's name (``host:pid``); ``run``: what tells its incarnations apart."""

    def __init__(self, client: Client, keys: RedisKeys, process: str, run: str, ttl: float, retry_after: float) -> None:
        self._client = client
        self._keys = keys
        self._ttl = ttl
        self.identity = f"{process}:{run}"
        self._run = run
        self._process_key = keys.process(run)
        self._index_key = keys.processes()
        self._locks: dict[str, Lock] = {}
        self._breaker = Breaker("redis", retry_after, REDIS_ERRORS)
        self._decoded: dict[bytes, ProcessReport] = {}

    def _lock(self, feed: str) -> Lock:
        lock = self._locks.get(feed)
        if lock is None:
            lock = self._locks[feed] = Lock(
                self._client, self._keys.lease(feed), timeout=self._ttl, blocking=False, thread_local=False
            )
        return lock

    def _token(self, key: str) -> int:
        return clock_us(self._client, key)

    def acquire(self, feed: str) -> int | None:
        lock = self._lock(feed)

        def take() -> int | None:
            if not lock.acquire(token=self.identity):
                return None
            token = self._token(lock.name)
            return token if lock.owned() else None  # a pause after taking it must not date the token later

        return self._breaker.call(take)

    def renew(self, feed: str) -> bool:
        lock = self._lock(feed)

        def extend() -> bool:
            try:
                return lock.reacquire()
            except LockError:  # not ours any more; if nobody has it (the cache lost it), take it again
                return bool(lock.acquire(token=self.identity))

        return self._breaker.call(extend)

    def release(self, feed: str) -> None:
        lock = self._lock(feed)

        def let_go() -> None:
            with contextlib.suppress(LockError):  # already lapsed or taken: nothing of ours to release
                lock.release()

        self._breaker.call(let_go)

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        if not feeds:
            return {}
        groups = list(self._keys.slot_groups(feeds, self._keys.lease))

        def fetch() -> list:
            pipe = self._client.pipeline(transaction=False)
            for group in groups:  # one MGET per exchange on a cluster: its leases share a slot
                pipe.execute_command("MGET", *(self._keys.lease(feed) for feed in group))
            return [value for values in pipe.execute() for value in values]

        values = self._breaker.call(fetch)
        ordered = [feed for group in groups for feed in group]
        return {
            feed: None if value is None else bytes(value).decode(errors="replace").rsplit(":", 1)[0]
            for feed, value in zip(ordered, values, strict=True)
        }

    def heartbeat(self, report: ProcessReport) -> None:
        body = orjson.dumps(report.to_json())

        def beat() -> None:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(self._process_key, body, px=seconds_to_ms(self._ttl))  # first: an indexed run has a heartbeat
            pipe.sadd(self._index_key, self._run)
            pipe.execute()

        self._breaker.call(beat)

    def leave(self) -> None:
        def go() -> None:
            pipe = self._client.pipeline(transaction=False)
            pipe.delete(self._process_key)
            pipe.srem(self._index_key, self._run)
            pipe.execute()

        self._breaker.call(go)

    def processes(self) -> list[ProcessReport]:
        def fetch() -> list[bytes]:
            runs = list(self._client.smembers(self._index_key))
            if not runs:
                return []
            values = self._client.mget([self._keys.process(run.decode(errors="replace")) for run in runs])
            lapsed = [run for run, value in zip(runs, values, strict=True) if value is None]
            if lapsed:
                self._client.srem(self._index_key, *lapsed)
            return [value for value in values if value is not None]

        # A heartbeat changes about once a second while /health may be asked hundreds of times: a report
        # read before is decoded again only when its bytes changed (the cache holds the live processes' only).
        decoded: dict[bytes, ProcessReport] = {}
        for value in self._breaker.call(fetch):
            report = self._decoded.get(value) or _decode(value)
            if report is not None:
                decoded[value] = report
        self._decoded = decoded
        return sorted(decoded.values(), key=lambda p: p.id)


def _decode(value: bytes) -> ProcessReport | None:
    """A heartbeat's report; None for what marketflow did not write (not JSON, or not an object)."""
    try:
        beat = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return ProcessReport.from_json(beat) if isinstance(beat, dict) else None
