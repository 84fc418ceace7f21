"""Who may change the service: the admin token, loopback without one, and cross-site browser requests.

In-process; the first scenario also runs through gunicorn (tests/e2e/test_access_e2e.py), where the peer
address is the real socket's."""

import json
from collections.abc import Callable, Mapping

from tests.support.net import wait_for
from tests.support.service import ServiceUnderTest

Start = Callable[[dict], ServiceUnderTest]

TOKEN = "t0ken-for-the-tests-0123456789"


def send(
    service: ServiceUnderTest, method: str, path: str, headers: dict | None = None, body: bytes | None = None
) -> tuple[int, dict, Mapping[str, str]]:
    """One request with exactly these headers (Host too, when given)."""
    answer = service.request(method, path, headers, body)
    return answer.status, answer.json(), answer.headers


def only_loopback_by_a_loopback_name_may_control_without_a_token(
    make_config: Callable[..., dict], start: Start
) -> None:
    service = start(make_config(mode="test"))
    assert "no admin token: control requests are accepted from loopback only" in service.logs()
    assert send(service, "POST", "/mode/live")[:2][0] == 200
    assert send(service, "POST", "/mode/test", {"Host": f"localhost:{service.port}"})[0] == 200
    # A page whose name was rebound to 127.0.0.1 reaches us from loopback, but by its own name.
    status, body, _ = send(service, "POST", "/mode/live", {"Host": f"rebound.example:{service.port}"})
    assert status == 403
    assert body == {
        "error": "without an admin token, control requests are accepted only from loopback, addressed to "
        "localhost, 127.0.0.1 or [::1]: set http.admin_token (or MARKETFLOW_ADMIN_TOKEN) and send "
        "Authorization: Bearer <token>"
    }
    assert send(service, "POST", "/proxy/set-disabled", {"Host": "rebound.example"})[0] == 403
    assert send(service, "GET", "/mode", {"Host": "rebound.example"})[:2] == (
        200,
        {"mode": "test", "exchanges": ["test-exchange1", "test-exchange2", "test-exchange3"]},
    )


def test_without_a_token_only_loopback_by_a_loopback_name_may_control(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    only_loopback_by_a_loopback_name_may_control_without_a_token(make_config, start_in_process)


def test_with_a_token_every_control_request_needs_it(make_config: Callable[..., dict], start_in_process: Start) -> None:
    service = start_in_process(make_config(mode="test", http={"admin_token": TOKEN}))
    assert "control requests need Authorization: Bearer <http.admin_token>" in service.logs()
    for path in ("/mode/live", "/proxy/set-disabled", "/proxy/enable"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-Token": TOKEN}):
            status, body, response_headers = send(service, "POST", path, headers)
            assert (status, body) == (
                401,
                {"error": "this request changes the service: send Authorization: Bearer <admin token>"},
            )
            assert response_headers["WWW-Authenticate"] == 'Bearer realm="marketflow"'
    assert service.get("/mode")[1]["mode"] == "test"
    status, body, _ = send(service, "POST", "/mode/live", {"Authorization": f"Bearer {TOKEN}"})
    assert (status, body["mode"], body["changed"]) == (200, "live", True)
    status, body, _ = send(service, "POST", "/proxy/set-disabled", {"Authorization": f"bearer {TOKEN}"})
    assert (status, body["mode"]) == (200, "disabled")
    assert send(service, "POST", "/mode/test", {"Authorization": f"Bearer {TOKEN}", "Host": "any.example"})[0] == 200
    secret_free = service.logs()
    assert TOKEN not in secret_free


def test_cross_site_requests_are_refused_token_or_not(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    allowed = "https://prices.example.com"
    service = start_in_process(make_config(mode="test", http={"admin_token": TOKEN, "allowed_origins": [allowed]}))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    own = f"http://127.0.0.1:{service.port}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for headers in (
        {**form, "Origin": "http://evil.example"},  # the classic cross-site form post, with or without the token
        {**form, "Origin": "http://evil.example", **auth},
        {**auth, "Origin": "null"},
        {**auth, "Referer": "http://evil.example/page.html"},
        {**auth, "Origin": f"http://127.0.0.1:{service.port + 1}"},
        {**auth, "Origin": "https://prices.example.com.evil.example"},
    ):
        status, body, _ = send(
            service, "POST", "/mode/live", headers, b"mode=live" if form.items() <= headers.items() else None
        )
        assert status == 403, headers
        assert body["error"].startswith("cross-site request refused: ")
        assert body["error"].endswith(" is not this service's origin (list it in http.allowed_origins to allow it)")
    assert service.get("/mode")[1]["mode"] == "test"

    # A form body is refused even from our own page; JSON or no body is fine.
    status, body, _ = send(service, "POST", "/mode/live", {**form, **auth, "Origin": own}, b"mode=live")
    assert (status, body) == (415, {"error": "send the body as application/json, or no body"})
    assert send(service, "POST", "/proxy/set-static", {**auth, "Content-Type": "text/plain"}, b"{}")[0] == 415
    assert send(service, "POST", "/mode/live", {**auth, "Origin": own})[0] == 200
    assert send(service, "POST", "/mode/test", {**auth, "Referer": f"{own}/"})[0] == 200
    assert send(service, "POST", "/mode/live", {**auth, "Origin": allowed})[0] == 200
    status, body, _ = send(
        service,
        "POST",
        "/proxy/set-rotating",
        {**auth, "Origin": allowed, "Content-Type": "application/json"},
        json.dumps({"proxies": ["socks5://127.0.0.1:1"]}).encode(),
    )
    assert (status, body["mode"], body["proxies"]) == (200, "rotating", ["socks5://127.0.0.1:1"])
    wait_for(lambda: service.get("/mode")[1]["mode"] == "live", message="live")
