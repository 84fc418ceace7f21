"""Fixtures for the service in the test's own process (flaskr's ``app``, ``client`` and ``runner``)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.support.entry_points import EntryPoints
from tests.support.in_process import InProcessService
from tests.support.service import Starter, starter


@pytest.fixture
def start_in_process(tmp_path: Path) -> Iterator[Starter[InProcessService]]:
    """``start_in_process(config)``: the service started in this process, stopped (and checked to have left no
    greenlet running) when the test ends."""
    with starter(InProcessService, tmp_path) as start:
        yield start


@pytest.fixture
def app(make_config: Callable[..., dict], tmp_path: Path) -> Flask:
    """The app over a test-mode configuration, idle (nothing started): for what a request alone decides."""
    return InProcessService(make_config(mode="test"), tmp_path).app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Requests to the idle app, answered in this process."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Iterator[FlaskCliRunner]:
    """``runner.invoke(args=["marketflow", ...])``, inside the app context ``flask`` pushes for a command."""
    with app.app_context():
        yield app.test_cli_runner()


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> EntryPoints:
    """``marketflow`` and gunicorn.conf.py in this process, over a configuration file this test writes."""
    return EntryPoints(monkeypatch, capsys, tmp_path)
