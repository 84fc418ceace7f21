"""Fail fast while a dependency is known to be down.

Without this every query would wait a full socket timeout on a dead Redis
or PostgreSQL; with it, callers get ``StorageUnavailable`` at once until
``retry_after`` has passed, then one call probes again while the others
still fail fast, so a hung server costs one timeout per window, not one
per caller.
"""

import time
from collections.abc import Callable
from typing import TypeVar

from app.application.ports.storage import StorageUnavailable

T = TypeVar("T")


class Breaker:
    def __init__(self, name: str, retry_after: float, errors: tuple[type[BaseException], ...]) -> None:
        self._name = name
        self._retry_after = retry_after
        self._errors = errors
        self._open_until = 0.0
        self._probing = False
        self.last_error: str | None = None

    def call(self, action: Callable[[], T]) -> T:
        if self._probing or time.monotonic() < self._open_until:
            raise StorageUnavailable(f"{self._name} unavailable: {self.last_error}")
        self._probing = self._open_until > 0
        try:
            result = action()
        except self._errors as exc:
            self._open_until = time.monotonic() + self._retry_after
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            raise StorageUnavailable(f"{self._name} unavailable: {self.last_error}") from exc
        finally:
            self._probing = False
        self._open_until = 0.0
        return result
