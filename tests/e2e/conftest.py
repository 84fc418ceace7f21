"""Fixtures for driving real gunicorn processes; every test here is marked ``e2e``."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.service import Service, Starter, starter

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``e2e`` on every test of this folder, so ``pytest -m "not e2e"`` runs all but the gunicorn ones."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Starter[Service]]:
    """``start_service(config)``: a gunicorn of its own, stopped (SIGTERM) when the test ends."""
    with starter(Service, tmp_path) as start:
        yield start
