"""Mode and proxy settings shared by every process: one state in Redis, changes announced over pub/sub.

A change made through any worker is applied there at once and published;
every other process hears of it and applies it (within a second). Each
process also keeps a copy on its host's disk, so a restart while Redis is
down starts with the last state seen rather than the configuration's. A
change made while Redis is down applies to this process only until Redis
is back: it is published then (``published`` is False meanwhile).
"""

import logging
from collections.abc import Callable
from typing import TypeVar

import gevent
from gevent.lock import Semaphore

from app.application.modes import MODES, ModeService
from app.application.owned_loop import OwnedLoop
from app.application.ports.coordination import ControlChannel, ControlCopy
from app.application.ports.storage import StorageUnavailable
from app.application.proxy_service import ProxyService
from app.domain.errors import DomainError

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
T = TypeVar("T")


class SharedControl:
    def __init__(self, channel: ControlChannel, copy: ControlCopy, modes: ModeService, proxy: ProxyService) -> None:
        self._channel = channel
        self._copy = copy
        self._modes = modes
        self._proxy = proxy
        self._loop = OwnedLoop(self._listen_forever)
        # A change made here and its publication are one step, and a change heard of waits for it: otherwise
        # a state read between the two would undo the change until its own echo came back.
        self._lock = Semaphore()
        self.published = True

    def state(self) -> dict[str, object]:
        return {"mode": self._modes.mode, "proxy": self._proxy.shared()}

    def restore(self) -> None:
        """Before the feeds start: the shared state, else this host's copy, else the configuration."""
        try:
            state = self._channel.load()
        except StorageUnavailable:
            state = self._copy.load()
            if state is not None:
                log.warning("Redis unavailable: starting with this host's copy of the control state")
        if state is not None:
            self._apply(state)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def change(self, action: Callable[[], T]) -> T:
        """Run a control request's change here, then tell every process."""
        with self._lock:
            result = action()
            self._publish()
            return result

    def _publish(self) -> None:
        state = self.state()
        self._save(state)
        try:
            self._channel.publish(state)
            self.published = True
        except StorageUnavailable:
            self.published = False
            log.warning("Redis unavailable: the control change applies to this process until it is back")

    def _listen_forever(self) -> None:
        while True:
            try:
                self._channel.listen(self._changed_elsewhere)
            except StorageUnavailable:
                gevent.sleep(RETRY_SECONDS)

    def _changed_elsewhere(self) -> None:
        with self._lock:
            if not self.published:  # a change made here while Redis was down goes out first
                self._publish()
                return
            state = self._channel.load()
            if state is not None and state != self.state():
                self._apply(state)
                self._save(state)

    def _save(self, state: dict[str, object]) -> None:
        """This host's copy is for a restart while Redis is down: a disk that refuses it must not stop a change."""
        try:
            self._copy.save(state)
        except OSError as exc:
            log.warning("local control copy not saved", extra={"error": str(exc)})

    def _apply(self, state: dict[str, object]) -> None:
        try:
            mode = state.get("mode")
            if mode in MODES:
                self._modes.switch(str(mode))
            proxy = state.get("proxy")
            if isinstance(proxy, dict):
                self._proxy.adopt(proxy)
        except (DomainError, KeyError, TypeError) as exc:  # a state this version can't read: keep ours
            log.warning("shared control state ignored", extra={"error": str(exc)[:200]})
