"""Feed leases that keep a feed to one reader whether or not Redis answers.

The lease is Redis's (``FeedLeases``), and while Redis answers it alone
decides. Beside it, each holder keeps the feed's lock in every other store
it can (``FeedLocks``, in order: PostgreSQL's session advisory locks; with
``leases.single_host``, a lock file on this host), and while Redis does not
answer, the first of those that answers decides instead: a process started
then reads the feeds nobody holds there, rather than nothing, and can't take
one a live owner holds. With none answering nobody can take a feed, and
owners keep theirs. The rules are written in docs/design.md, "One reader per
feed" and "Redis down".
"""

import contextlib
from collections.abc import Sequence

from app.application.ports.coordination import FeedLeases, FeedLocks
from app.application.ports.storage import StorageUnavailable

NO_STORE = "neither Redis nor a store the leases fall back on answers"


class FallbackLeases:
    """A ``FeedLeases``: Redis's leases (``leases``), each pinned by the ``locks`` of the other stores."""

    def __init__(self, leases: FeedLeases, locks: Sequence[FeedLocks]) -> None:
        self._leases = leases
        self._locks = list(locks)

    def _pin(self, feed: str, stores: Sequence[FeedLocks]) -> None:
        """Hold the feed's lock in each of ``stores`` that answers and where nobody else holds it (a paused
        owner's session may: the store that decides is the one that answers first, and the fence keeps a
        stale owner's rows out)."""
        for store in stores:
            with contextlib.suppress(StorageUnavailable):
                store.lock(feed)

    def acquire(self, feed: str) -> int | None:
        """Redis's token while Redis answers; else the token of the first store that answers, if its lock is
        free."""
        try:
            token = self._leases.acquire(feed)
        except StorageUnavailable:
            return self._acquire_locked(feed)
        if token is not None:
            self._pin(feed, self._locks)
        return token

    def _acquire_locked(self, feed: str) -> int | None:
        for i, store in enumerate(self._locks):
            try:
                if not store.lock(feed):
                    return None
                token = store.token()
            except StorageUnavailable:
                continue
            self._pin(feed, self._locks[i + 1 :])
            return token
        raise StorageUnavailable(NO_STORE)

    def renew(self, feed: str) -> bool:
        """The answer of Redis, else of the first store that answers: False when another process holds it."""
        try:
            renewed = self._leases.renew(feed)
        except StorageUnavailable:
            return self._renew_locked(feed)
        if renewed:
            self._pin(feed, self._locks)
        return renewed

    def _renew_locked(self, feed: str) -> bool:
        for i, store in enumerate(self._locks):
            try:
                held = store.lock(feed)
            except StorageUnavailable:
                continue
            if held:
                self._pin(feed, self._locks[i + 1 :])
            return held
        raise StorageUnavailable(NO_STORE)

    def release(self, feed: str) -> None:
        with contextlib.suppress(StorageUnavailable):  # it lapses by itself
            self._leases.release(feed)
        for store in self._locks:
            with contextlib.suppress(StorageUnavailable):  # it goes with the session
                store.unlock(feed)

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        """The holders Redis knows, else those of the first store that answers."""
        for store in (self._leases, *self._locks):
            with contextlib.suppress(StorageUnavailable):
                return store.holders(feeds)
        raise StorageUnavailable(NO_STORE)
