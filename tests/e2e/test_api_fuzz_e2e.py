"""The API fuzzed through gunicorn (tests/service/test_api_fuzz.py's check, fewer examples): here the
server parses every generated request itself before the app sees it."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from tests.service.test_api_fuzz import every_answer_is_documented_and_never_a_server_error
from tests.support.service import Service, private_service


@pytest.fixture
def fuzzed_service(tmp_path: Path, pg_dsn: str) -> Iterator[Service]:
    with private_service(tmp_path, pg_dsn) as service:
        yield service


def test_every_answer_is_documented_and_never_a_server_error(fuzzed_service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_service.base}/openapi.json")
    every_answer_is_documented_and_never_a_server_error(schema, 10)
