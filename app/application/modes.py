"""Test mode (synthetic feeds) versus live mode (real exchanges), switchable at runtime."""

import logging
from collections.abc import Callable, Mapping, Sequence

from gevent.lock import RLock

from app.application.pipeline import Pipeline
from app.application.ports import FeedSource

log = logging.getLogger(__name__)

MODES = ("test", "live")


class ModeService:
    """Owns which sources feed the pipeline.

    A switch detaches the old sources before attaching the new ones; what the
    old ones already emitted stays in the queues and is processed, and the
    aggregator never stops. Switching to the current mode changes nothing.
    """

    def __init__(self, pipeline: Pipeline, sources: Mapping[str, Sequence[FeedSource]], initial: str) -> None:
        self._pipeline = pipeline
        self._sources = sources
        self.mode = initial
        self._active = False
        self._lock = RLock()
        # Called with the new mode after every switch (e.g. the proxy turns itself off for test mode).
        self.listeners: list[Callable[[str], None]] = []

    def exchanges(self, mode: str | None = None) -> list[str]:
        return [source.name for source in self._sources[mode or self.mode]]

    def start(self) -> None:
        with self._lock:
            self._active = True
            self._attach(self.mode)

    def stop(self) -> None:
        with self._lock:
            self._active = False
            for source in self._sources[self.mode]:
                self._pipeline.detach(source.name)

    def switch(self, mode: str) -> bool:
        """Switch to ``mode``; True if anything changed."""
        with self._lock:
            if mode == self.mode:
                return False
            if self._active:
                for source in self._sources[self.mode]:
                    self._pipeline.detach(source.name)
                self._attach(mode)
            log.info("mode switched", extra={"mode": mode, "previous": self.mode})
            self.mode = mode
        for listener in self.listeners:
            listener(mode)
        return True

    def restart(self, names: Sequence[str] | None = None) -> None:
        """Reconnect the current mode's sources (or those named) so new routing applies."""
        with self._lock:
            if not self._active:
                return
            for source in self._sources[self.mode]:
                if names is None or source.name in names:
                    self._pipeline.detach(source.name)
                    self._pipeline.attach(source)

    def _attach(self, mode: str) -> None:
        for source in self._sources[mode]:
            self._pipeline.attach(source)
