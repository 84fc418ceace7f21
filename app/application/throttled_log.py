"""Warnings that would flood the log under a bad feed are emitted at most once per interval."""

import logging
import time


class ThrottledLog:
    """One warning per key per ``interval`` seconds, with how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[tuple[str, ...], tuple[float, int]] = {}

    def warning(self, key: tuple[str, ...], message: str, **fields: object) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(key, (float("-inf"), 0))
        if now - last < self._interval:
            self._last[key] = (last, suppressed + 1)
            return
        self._last[key] = (now, 0)
        self._logger.warning(message, extra={**fields, "suppressed": suppressed})
