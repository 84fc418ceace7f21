"""Structured logs through the stdlib: one JSON object per line by default.

Context passed with ``extra=`` (exchange, symbol, mode, ...) becomes fields;
inside a request the request id is added automatically. Every line, in
either format, goes through ``mask_secrets``: a driver error that quotes a
URL or DSN never puts its password in the log.
"""

import logging
import sys
from datetime import UTC, datetime

import orjson
from flask import g, has_request_context

from app.domain.secrets import mask_secrets

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        request_id = _request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = mask_secrets(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = mask_secrets(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_dict(level: str, fmt: str) -> dict[str, object]:
    """A ``dictConfig`` for our loggers and gunicorn's, so every line has one format."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"()": TextFormatter, "format": TEXT_FORMAT}
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
