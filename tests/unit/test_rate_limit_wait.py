import pytest
from websocket import WebSocketBadStatusException

from app.adapters.net.connector import DEFAULT_RATE_LIMIT_WAIT, MAX_RATE_LIMIT_WAIT, rate_limit_wait


def refused(status: int, headers: dict | None) -> WebSocketBadStatusException:
    return WebSocketBadStatusException("Handshake status %d", status, "x", headers)


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (418, {"retry-after": "120"}, 120.0),
        (429, {}, DEFAULT_RATE_LIMIT_WAIT),
        (429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, DEFAULT_RATE_LIMIT_WAIT),
        (418, {"Retry-After": "259200"}, MAX_RATE_LIMIT_WAIT),
        (429, {"Retry-After": "-5"}, 0.0),
        (403, {"Retry-After": "7"}, 0.0),
        (503, None, 0.0),
    ],
)
def test_rate_limit_wait(status: int, headers: dict | None, wait: float) -> None:
    assert rate_limit_wait(refused(status, headers)) == wait


def test_other_errors_ask_for_no_wait() -> None:
    assert rate_limit_wait(ConnectionRefusedError()) == 0.0
