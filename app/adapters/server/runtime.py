"""What the server side (gunicorn hooks, the worker, management commands) may use of the wired app."""

from typing import Protocol

from flask import Flask

from app.config.schema import Config

RUNTIME_KEY = "marketflow.runtime"


class Runtime(Protocol):
    """The process's services as a whole: its configuration, and starting and stopping them."""

    config: Config

    def start(self) -> None: ...

    def stop(self) -> None: ...


def runtime(app: Flask) -> Runtime | None:
    """The app's runtime; None before the app is loaded (a worker that failed early)."""
    return app.extensions.get(RUNTIME_KEY)
