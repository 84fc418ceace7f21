"""Redis decides while it answers; else the first store that answers; with none, nobody takes a feed."""

import pytest

from app.application.fallback_leases import FallbackLeases
from app.application.ports.storage import StorageUnavailable
from tests.support.fakes import MemoryLeases


class Locks:
    """A store's locks shared by fake processes: ``down`` fails every call; tokens from its own clock."""

    def __init__(self, clock: int) -> None:
        self.holder: dict[str, str] = {}
        self.down = False
        self.clock = clock

    def of(self, process: str) -> "ProcessLocks":
        return ProcessLocks(self, process)


class ProcessLocks:
    def __init__(self, shared: Locks, process: str) -> None:
        self._shared, self.process = shared, process

    def _check(self) -> None:
        if self._shared.down:
            raise StorageUnavailable("locks down")

    def lock(self, feed: str) -> bool:
        self._check()
        return self._shared.holder.setdefault(feed, self.process) == self.process

    def unlock(self, feed: str) -> None:
        self._check()
        if self._shared.holder.get(feed) == self.process:
            del self._shared.holder[feed]

    def holders(self, feeds: list[str]) -> dict[str, str | None]:
        self._check()
        return {feed: self._shared.holder.get(feed) for feed in feeds}

    def token(self) -> int:
        self._check()
        self._shared.clock += 1
        return self._shared.clock


def processes(*names: str) -> tuple[MemoryLeases, Locks, Locks, list[FallbackLeases]]:
    redis, postgres, host = MemoryLeases(), Locks(10_000), Locks(20_000)
    return redis, postgres, host, [FallbackLeases(redis.of(n), [postgres.of(n), host.of(n)]) for n in names]


def test_while_redis_answers_it_decides_and_every_holder_pins_its_feed_elsewhere() -> None:
    redis, postgres, host, (a, b) = processes("a", "b")
    assert a.acquire("ex1") == 1
    assert (postgres.holder, host.holder) == ({"ex1": "a"}, {"ex1": "a"})
    assert b.acquire("ex1") is None
    assert a.renew("ex1") is True
    assert b.holders(["ex1", "ex2"]) == {"ex1": "a", "ex2": None}
    # A paused owner's session still holds the locks: Redis decides, and its lease went to b.
    del redis.holder["ex1"]
    assert b.acquire("ex1") == 2
    assert a.renew("ex1") is False


def test_while_redis_is_down_the_first_store_that_answers_decides_with_its_own_token() -> None:
    redis, postgres, host, (a, b) = processes("a", "b")
    redis.down = True
    assert a.acquire("ex1") == 10_001  # PostgreSQL's clock
    assert host.holder == {"ex1": "a"}
    assert b.acquire("ex1") is None
    assert b.holders(["ex1"]) == {"ex1": "a"}
    postgres.down = True
    assert a.renew("ex1") is True  # the host's lock, still a's
    assert b.acquire("ex1") is None
    assert b.acquire("ex2") == 20_001  # the host's clock
    host.down = True
    with pytest.raises(StorageUnavailable):
        a.renew("ex1")
    with pytest.raises(StorageUnavailable):
        b.acquire("ex3")
    with pytest.raises(StorageUnavailable):
        b.holders(["ex3"])


def test_a_feed_taken_while_redis_is_down_is_kept_under_redis_once_it_answers() -> None:
    redis, postgres, _, (a, b) = processes("a", "b")
    redis.down = True
    token = a.acquire("ex1")
    redis.down = False  # back empty: the holder renews, which takes the lease again
    assert a.renew("ex1") is True
    assert redis.holder == {"ex1": "a"}
    assert b.acquire("ex1") is None
    assert token == 10_001
    a.release("ex1")
    assert (redis.holder, postgres.holder) == ({}, {})
