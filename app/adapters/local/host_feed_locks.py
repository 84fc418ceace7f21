"""The ``FeedLocks`` port on this host's file locks, for ``leases.single_host``: the leases' last resort.

Set only where one host runs marketflow against its Redis and PostgreSQL.
When neither answers, its workers still read the feeds, one reader each: a
feed is read by the worker holding ``flock`` on ``<directory>/<feed>.lock``
(the kernel lets it go when that process dies, as the spool's own lock).
Every holder keeps its feeds' files locked whatever answers, so that no
worker of the host takes a feed another reads when the stores go down. Two
hosts with it set would each read every feed while both stores are down:
the fence then keeps one reader's rows once PostgreSQL is back, and the
other's are lost, so never set it on more than one host.
"""

import fcntl
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

HOLDER = "a process of this host"


class HostFeedLocks:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._held: dict[str, int] = {}

    def _path(self, feed: str) -> Path:
        """A file name for any feed name (a shard's holds a ``/``)."""
        return self._directory / f"{hashlib.blake2b(feed.encode(), digest_size=8).hexdigest()}.lock"

    def _try(self, feed: str) -> int | None:
        """An open descriptor holding the feed's lock, or None when another one holds it."""
        self._directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(feed), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def lock(self, feed: str) -> bool:
        if feed in self._held:
            return True
        fd = self._try(feed)
        if fd is None:
            return False
        self._held[feed] = fd
        return True

    def unlock(self, feed: str) -> None:
        fd = self._held.pop(feed, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor lets the lock go

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for feed in feeds:
            if feed in self._held:
                found[feed] = HOLDER
                continue
            fd = self._try(feed)
            if fd is not None:
                os.close(fd)
            found[feed] = HOLDER if fd is None else None
        return found

    def token(self) -> int:
        """This host's clock, in microseconds (compared with Redis's and PostgreSQL's in the fence)."""
        return time.time_ns() // 1000

    def close(self) -> None:
        for feed in list(self._held):
            self.unlock(feed)
