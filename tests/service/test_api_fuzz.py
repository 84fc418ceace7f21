"""Property-based fuzzing of the HTTP API against its own OpenAPI document (schemathesis), in-process.

Every generated request must get a documented status with a body matching
its schema, and never a server error. The service stays in test mode (mode
switches are left out), so fuzzed proxy URLs are refused and no traffic can
leave loopback. tests/e2e/test_api_fuzz_e2e.py fuzzes the same operations
through gunicorn, where the server parses each generated request itself.
"""

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support.in_process import InProcessService


def every_answer_is_documented_and_never_a_server_error(schema: OpenApiSchema, examples: int) -> None:
    """``examples`` requests per operation, each checked against the document."""
    operations = [result.ok() for result in schema.exclude(method="POST", path="/mode/{mode}").get_all_operations()]
    assert len(operations) == 22, [o.label for o in operations]  # all but POST /mode and the document itself

    for operation in operations:

        @given(operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: schemathesis.Case) -> None:
            # A period such as 0s or 9999999d matches the documented pattern yet is a 400 by its bounds,
            # so "schema-valid data must be accepted" can't hold; every other check runs.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        conforms()


def test_every_answer_is_documented_and_never_a_server_error(
    make_config: Callable[..., dict], start_in_process: Callable[[dict], InProcessService]
) -> None:
    service = start_in_process(make_config(mode="test"))
    every_answer_is_documented_and_never_a_server_error(
        schemathesis.openapi.from_wsgi("/openapi.json", service.app), 30
    )


def test_the_document_lists_every_route(
    make_config: Callable[..., dict], start_in_process: Callable[[dict], InProcessService]
) -> None:
    service = start_in_process(make_config(mode="test"))
    status, spec = service.get("/openapi.json")
    assert status == 200
    assert spec["openapi"].startswith("3.")
    assert {
        "/prices/latest/{symbol}",
        "/prices/average/{exchange}/{symbol}",
        "/candles/{symbol}",
        "/candles/{exchange}/{symbol}",
        "/mode/{mode}",
        "/health",
        "/symbols",
    } <= set(spec["paths"])
    assert {p for p in spec["paths"] if p.startswith("/proxy/")} == {
        "/proxy/status",
        "/proxy/enable",
        "/proxy/disable",
        "/proxy/set-static",
        "/proxy/set-rotating",
        "/proxy/set-disabled",
    }
