"""The whole service in the test's own process: the container gunicorn's worker would build, driven
through Flask's test client.

Everything is real (Redis, PostgreSQL, the spool, the loopback exchanges) but the two ports whose
``listen`` waits on a Redis pub/sub socket: this process is not monkey-patched, so such a wait would
stop every greenlet. A process alone hears nothing on them anyway (``MemoryControlChannel``,
``SilentRelay``); what crosses processes is tested through gunicorn (tests/e2e).

The pipeline runs in greenlets of the test's own thread: they run only while the test waits
cooperatively, so waits go through ``gevent.sleep`` (``wait_for`` does), never ``time.sleep``.
"""

import gc
import io
import logging
from collections.abc import Mapping
from pathlib import Path

import gevent
from click.testing import CliRunner, Result
from flask import Flask

from app.adapters.server.logs import JsonFormatter
from app.adapters.server.runtime import RUNTIME_KEY
from app.application.ports.storage import RetainingStore, StoredHistory
from app.composition import Container, build_container, create_app
from app.config.loader import load_config
from app.config.masking import secret_values
from tests.support.fakes import MemoryControlChannel, SilentRelay
from tests.support.service import Answer, ServiceUnderTest


def build_app(
    config_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    store: RetainingStore | None = None,
    history: StoredHistory | None = None,
) -> Flask:
    """The app ``flask --app wsgi`` would load for this file (and these environment variables), idle; ``store``
    and ``history`` stand in for PostgreSQL's where given."""
    container = build_container(
        load_config(config_path, env=env or {}),
        store=store,
        history=history,
        channel=MemoryControlChannel(),
        relay=SilentRelay(),
    )
    return create_app(container)


def run_command(app: Flask, *args: str) -> Result:
    """``flask marketflow <args>`` against ``app``, in-process, inside the app context ``flask`` pushes."""
    runner: CliRunner = app.test_cli_runner()
    with app.app_context():
        return runner.invoke(args=["marketflow", *args])


class LogCapture(logging.Handler):
    """The service's log lines while it runs (its own loggers, ``app.*`` and ``marketflow.*``), at the server's
    level and in its format (secrets masked)."""

    LOGGERS = ("app", "marketflow")

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter(secrets=secrets))
        self.text = io.StringIO()
        self._levels = {name: logging.getLogger(name).level for name in self.LOGGERS}

    def emit(self, record: logging.LogRecord) -> None:
        self.text.write(self.format(record) + "\n")

    def attach(self) -> "LogCapture":
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
            logging.getLogger(name).setLevel(logging.INFO)
        return self

    def detach(self) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)


def live_greenlets() -> set[gevent.Greenlet]:
    # ``type``, not ``isinstance``: the heap holds weak proxies too, and a dead one raises when asked its class.
    return {g for g in gc.get_objects() if issubclass(type(g), gevent.Greenlet) and not g.dead}


class InProcessService(ServiceUnderTest):
    """``config`` built into a container in this process and started; requests go through the test client."""

    def __init__(
        self,
        config: dict,
        workdir: Path,
        *,
        store: RetainingStore | None = None,
        history: StoredHistory | None = None,
    ) -> None:
        """``store`` and ``history``: in place of PostgreSQL's (see ``build_app``)."""
        super().__init__(config, workdir)
        # Building starts nothing: this is the idle app.
        self.app = build_app(self.config_path, store=store, history=history)
        self.container: Container = self.app.extensions[RUNTIME_KEY]
        self._client = self.app.test_client()

    def launch(self) -> None:
        self._before = live_greenlets()
        self._logs = LogCapture(secret_values(self.container.config)).attach()
        self.container.start()

    def wait_up(self) -> None:
        """Nothing to wait for: the container has started when ``launch`` returns."""

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        headers = dict(headers or {})
        host = headers.pop("Host", f"127.0.0.1:{self.port}")
        response = self._client.open(path, method=method, headers=headers, data=body, base_url=f"http://{host}")
        with response:
            return Answer(response.status_code, response.headers, response.get_data())

    def logs(self) -> str:
        return self._logs.text.getvalue()

    def stop(self) -> int:
        """The drain SIGTERM starts in the server; every greenlet the service started must be gone after it."""
        if not self.container.started:
            return 0
        self.container.stop()
        self._logs.detach()
        for _ in range(50):
            left = live_greenlets() - self._before
            if not left:
                return 0
            gevent.sleep(0.01)
        raise AssertionError(f"greenlets left running after stop: {left}")
