"""Fixtures for driving real gunicorn processes."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.service import Service, starter


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[[dict], Service]]:
    """``start_service(config)``: a gunicorn of its own, stopped (SIGTERM) when the test ends."""
    with starter(Service, tmp_path) as start:
        yield start
