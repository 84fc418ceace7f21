"""One long-lived greenlet that its owner starts once and kills when it stops."""

from collections.abc import Callable

import gevent


class OwnedLoop:
    def __init__(self, run: Callable[[], None]) -> None:
        self._run = run
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None
