"""Test mode (synthetic feeds) versus live mode (real exchanges), switchable at runtime."""

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from gevent.lock import RLock

from app.application.ports.feeds import Feeds, FeedSource

log = logging.getLogger(__name__)

MODES = ("test", "live")


class ModeListener(Protocol):
    def mode_switched(self, mode: str) -> None:
        """Called with the new mode after every switch (e.g. the proxy turns itself off for test mode)."""
        ...


class ModeService:
    """Owns which sources are wanted: the current mode's.

    A switch stops the old sources before the new ones start; what the old
    ones already emitted stays in the queues and is processed, and the
    aggregator never stops. Switching to the current mode changes nothing.
    ``listeners`` hear every switch, the shared control state included, so
    a switch made in one process reaches all of them.
    """

    def __init__(self, feeds: Feeds, sources: Mapping[str, Sequence[FeedSource]], initial: str) -> None:
        self._feeds = feeds
        self._sources = sources
        self.mode = initial
        self._active = False
        self._lock = RLock()
        # Connected by the composition root.
        self.listeners: list[ModeListener] = []

    def exchanges(self, mode: str | None = None) -> list[str]:
        """The exchanges of a mode (the current one by default), each once, in the configured order."""
        return list(dict.fromkeys(source.exchange for source in self._sources[mode or self.mode]))

    def feeds(self, mode: str | None = None) -> list[str]:
        """The feeds of a mode: each exchange, or each shard of a wide one."""
        return [source.name for source in self._sources[mode or self.mode]]

    def start(self) -> None:
        with self._lock:
            self._active = True
            self._feeds.want(self._sources[self.mode])

    def stop(self) -> None:
        with self._lock:
            self._active = False
            self._feeds.want([])

    def switch(self, mode: str) -> bool:
        """Switch to ``mode``; True if anything changed."""
        with self._lock:
            if mode == self.mode:
                return False
            if self._active:
                self._feeds.want(self._sources[mode])
            log.info("mode switched", extra={"mode": mode, "previous": self.mode})
            self.mode = mode
        for listener in self.listeners:
            listener.mode_switched(mode)
        return True

    def restart(self, names: Sequence[str] | None = None) -> None:
        """Reconnect the current mode's sources read here (or those named) so new routing applies."""
        with self._lock:
            if self._active:
                self._feeds.restart(names)
