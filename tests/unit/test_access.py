"""The access rules on real Werkzeug requests from peers a loopback-only test run can't be."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app.adapters.http.access import AccessDenied, AccessPolicy, origin_of

TOKEN = "t0ken-for-the-tests-0123456789"


def post(peer: str, host: str = "127.0.0.1:8080", **headers: str) -> Request:
    builder = EnvironBuilder(path="/mode/live", method="POST", headers={"Host": host, **headers})
    return Request(builder.get_environ() | {"REMOTE_ADDR": peer})


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers_may_control_without_a_token(peer: str) -> None:
    AccessPolicy("", []).check_control(post(peer))
    AccessPolicy("", []).check_control(post(peer, host="localhost:8080"))


@pytest.mark.parametrize("peer", ["192.0.2.10", "10.0.0.1", "::ffff:192.0.2.10", "2001:db8::1", ""])
def test_other_peers_are_told_to_set_a_token(peer: str) -> None:
    with pytest.raises(AccessDenied) as denied:
        AccessPolicy("", []).check_control(post(peer))
    assert denied.value.status == 403
    assert "MARKETFLOW_ADMIN_TOKEN" in str(denied.value)


def test_with_a_token_any_peer_with_it_may_control() -> None:
    policy = AccessPolicy(TOKEN, [])
    policy.check_control(post("192.0.2.10", host="prices.example.com", Authorization=f"Bearer {TOKEN}"))
    with pytest.raises(AccessDenied) as denied:
        policy.check_control(post("127.0.0.1", Authorization=f"Bearer {TOKEN}x"))
    assert denied.value.status == 401


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://Example.COM:80/x", "http://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("https://example.com:8443/", "https://example.com:8443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("null", None),
        ("ftp://example.com", None),
        ("http://example.com:99999", None),
    ],
)
def test_origins_are_normalised(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin
