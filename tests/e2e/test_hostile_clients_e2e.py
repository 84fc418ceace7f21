"""Clients that try to stall the worker or confuse it, against a real gunicorn over real sockets."""

import http.client
import json
import resource
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import websocket

from tests.support.net import wait_for
from tests.support.service import Service, private_service

SLOWLORIS = 1000


def raw_request(service: Service, head: bytes, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` as it is; the status, headers (lowercased names) and body of the answer."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=timeout) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header_block, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = header_block.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", 0)):
            body += sock.recv(65536)
    return int(status_line.split()[1]), headers, body


def upgrade(service: Service, *extra: str, version: str = "HTTP/1.1", method: str = "GET") -> bytes:
    lines = [f"{method} /ws/prices {version}", f"Host: 127.0.0.1:{service.port}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade")
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[Service]:
    """One service with the default limits for the tests that don't stop it."""
    with private_service(tmp_path_factory.mktemp("hostile"), pg_dsn) as started:
        yield started


@pytest.mark.parametrize(
    ("extra", "version", "method", "status", "error"),
    [
        ((*UPGRADE, "Sec-WebSocket-Version: 13"), "HTTP/1.1", "GET", 400, "missing Sec-WebSocket-Key: it must be 16"),
        ((*UPGRADE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: !!!!"), "HTTP/1.1", "GET", 400, "invalid Sec"),
        ((*UPGRADE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: c2hvcnQ="), "HTTP/1.1", "GET", 400, "invalid Sec"),
        ((*UPGRADE, "Sec-WebSocket-Version: 13", KEY), "HTTP/1.0", "GET", 400, "needs HTTP/1.1, not HTTP/1.0"),
        ((*UPGRADE, KEY), "HTTP/1.1", "GET", 426, "missing Sec-WebSocket-Version: this server speaks WebSocket"),
        ((*UPGRADE, KEY, "Sec-WebSocket-Version: 8"), "HTTP/1.1", "GET", 426, "unsupported version '8'"),
        ((KEY, "Sec-WebSocket-Version: 13"), "HTTP/1.1", "GET", 400, "/ws/prices speaks only WebSocket"),
        ((*UPGRADE, KEY, "Sec-WebSocket-Version: 13"), "HTTP/1.1", "POST", 405, "Method Not Allowed"),
        (
            (*UPGRADE, KEY, "Sec-WebSocket-Version: 13", "Origin: http://evil.example"),
            "HTTP/1.1",
            "GET",
            403,
            "cross-site request refused: 'http://evil.example'",
        ),
    ],
)
def test_every_handshake_error_is_json(
    service: Service, extra: tuple[str, ...], version: str, method: str, status: int, error: str
) -> None:
    got, headers, body = raw_request(service, upgrade(service, *extra, version=version, method=method))
    assert (got, headers["content-type"]) == (status, "application/json")
    assert error in json.loads(body)["error"]
    assert set(json.loads(body)) == {"error"}
    if status == 426:
        assert headers["sec-websocket-version"] == "13"
    assert "Traceback" not in service.logs()


def test_a_valid_handshake_from_our_own_page_upgrades(service: Service) -> None:
    got, headers, _ = raw_request(
        service,
        upgrade(service, *UPGRADE, KEY, "Sec-WebSocket-Version: 13", f"Origin: http://127.0.0.1:{service.port}"),
    )
    assert (got, headers["sec-websocket-accept"]) == (101, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{service.port}/ws/prices", origin="http://evil.example")
    assert refused.value.status_code == 403


def frame_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """A masked client frame header claiming ``length`` bytes of payload."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    return head + b"\x00\x00\x00\x00"  # a zero mask: the payload goes as it is


def close_of(ws: websocket.WebSocket) -> tuple[int, str]:
    while True:
        opcode, payload = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(payload[:2], "big"), payload[2:].decode()


def connect(service: Service) -> websocket.WebSocket:
    ws = websocket.create_connection(f"ws://127.0.0.1:{service.port}/ws/prices?symbols=BTCUSDT", timeout=10)
    assert json.loads(ws.recv())["type"] == "subscribed"
    return ws


def test_messages_over_4_kib_are_refused_from_the_frame_header(service: Service) -> None:
    ws = connect(service)
    ws.send("x" * 4096)  # at the limit: read, and answered
    reply = json.loads(ws.recv())
    while reply["type"] == "tick":
        reply = json.loads(ws.recv())
    assert reply == {"type": "error", "error": 'send {"subscribe": {"symbols": [...], "exchanges": [...]}}'}
    ws.send("x" * 4097)
    assert close_of(ws) == (1009, "message too big (limit 4096 bytes)")

    fragmented = connect(service)  # 3,000 + 1,100 bytes: each frame is small, the message is not
    fragmented.sock.sendall(frame_header(0x1, 3000, fin=False) + b"x" * 3000)
    fragmented.sock.sendall(frame_header(0x0, 1100) + b"x" * 1100)
    assert close_of(fragmented) == (1009, "message too big (limit 4096 bytes)")


def test_a_100_mb_frame_costs_other_clients_nothing(service: Service) -> None:
    def timed_health(count: int) -> list[float]:
        took = []
        for _ in range(count):
            started = time.perf_counter()
            assert service.get("/mode")[0] == 200
            took.append(time.perf_counter() - started)
        return took

    before = max(timed_health(20))
    during: list[float] = []
    timer = threading.Thread(target=lambda: during.extend(timed_health(40)))
    attacker = connect(service)
    timer.start()
    attacker.sock.sendall(frame_header(0x2, 100 * 1024 * 1024) + b"y" * 64 * 1024)
    assert close_of(attacker) == (1009, "message too big (limit 4096 bytes)")
    timer.join(timeout=60)
    assert len(during) == 40
    assert max(during) < before + 1.0, (before, max(during))
    assert service.get("/health")[0] == 200


def test_a_thousand_slowloris_connections_leave_room_for_real_clients(service: Service) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SLOWLORIS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, SLOWLORIS + 500), hard))
    slow = []
    try:
        for _ in range(SLOWLORIS):
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=5)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")  # and never the rest
            slow.append(sock)
        started = time.perf_counter()
        status, _ = service.get("/health")
        took = time.perf_counter() - started
        assert (status, took < 1.0) == (200, True), took

        # Half the default 1,000 connections may wait for a header; the longest waiting ones were closed.
        def dropped() -> list[int]:
            gone = []
            for i, sock in enumerate(slow):
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        gone.append(i)
                except BlockingIOError:
                    pass
            return gone

        wait_for(lambda: len(dropped()) >= SLOWLORIS - 500, timeout=5, message="the oldest waiting dropped")
        gone = dropped()
        assert len(gone) in (SLOWLORIS - 500, SLOWLORIS - 499)  # the health check itself waited a moment
        assert gone == list(range(len(gone)))  # oldest first
    finally:
        for sock in slow:
            sock.close()


def test_the_request_line_limit_is_4_kib(service: Service) -> None:
    def line_of(length: int) -> bytes:
        path = "/prices/lowest/BTCUSDT?period="
        period = "9" * (length - len(f"GET {path} HTTP/1.1"))
        return f"GET {path}{period} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()

    assert len(line_of(4096).split(b"\r\n")[0]) == 4096
    status, _, body = raw_request(service, line_of(4096))
    assert (status, json.loads(body)["error"][:15]) == (400, "invalid period ")
    status, headers, body = raw_request(service, line_of(4097))
    assert (status, headers["content-type"]) == (414, "application/json")
    assert json.loads(body) == {"error": "Request URI Too Long: the request line is too large (limit 4 KiB)"}


def test_slow_headers_get_408_and_idle_keepalive_connections_are_closed(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(make_config(mode="test", http={"header_timeout_seconds": 1, "keepalive_seconds": 1}))
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b'{"error":"Request Timeout: the request header did not arrive in time"}')
    assert 0.9 < took < 5
    kept = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    kept.request("GET", "/mode")
    response = kept.getresponse()
    assert (response.status, json.loads(response.read())["mode"]) == (200, "test")
    started = time.monotonic()
    assert kept.sock.recv(65536) == b""  # idle past keepalive_seconds: closed without an answer
    assert 0.9 < time.monotonic() - started < 5
    kept.close()


def test_shutdown_closes_a_websocket_client_that_never_answers(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(make_config(mode="test", http={"graceful_timeout": 15}))
    silent = connect(service)  # from here on it neither reads nor answers anything
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=20) == 0
    took = time.monotonic() - started
    assert took < 10, took  # gunicorn itself would wait the whole 15 s and then kill the worker
    assert "graceful timeout" not in service.logs().lower()
    assert close_of(silent) == (1001, "server shutting down")
