"""Structured logs through the stdlib: one JSON object per line by default.

Context passed with ``extra=`` (exchange, symbol, mode, ...) becomes fields;
inside a request the request id is added automatically. Every line, in
either format, goes through a ``SecretScrubber`` of the configured secrets:
a driver error that quotes a URL or DSN, or a fragment of its password,
never puts it in the log.
"""

import logging
import sys
from collections.abc import Sequence

import orjson
from flask import g, has_request_context

from app.domain.iso_instant import iso_ms
from app.domain.secrets import SecretScrubber
from app.domain.time_grid import seconds_to_ms

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class ScrubbingFormatter(logging.Formatter):
    """``secrets``: every secret the configuration holds (``app.config.masking.secret_values``)."""

    def __init__(self, *args: object, secrets: Sequence[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.scrub = SecretScrubber(secrets)


class JsonFormatter(ScrubbingFormatter):
    def format(self, record: logging.LogRecord) -> str:
        scrub = self.scrub
        entry: dict[str, object] = {
            "ts": iso_ms(seconds_to_ms(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = _request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(ScrubbingFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return self.scrub(super().format(record))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_dict(level: str, fmt: str, secrets: Sequence[str] = ()) -> dict[str, object]:
    """A ``dictConfig`` for our loggers and gunicorn's, so every line has one format and no secret."""
    formatter: dict[str, object] = {"()": JsonFormatter} if fmt == "json" else {"()": TextFormatter, "fmt": TEXT_FORMAT}
    formatter["secrets"] = list(secrets)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": sys.stderr}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            # pywsgi's own access lines duplicate our request log (which has the request id).
            "geventwebsocket.handler": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
    }
