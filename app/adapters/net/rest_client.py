"""GET JSON from one exchange's public REST API, the way the feeds connect, within its limits.

Each request goes through the ``Connector`` (the same proxy routing as the
WebSocket: direct, or through a proxy), as HTTP/1.1 with
``Connection: close`` and no API key. Requests to one exchange go one at a
time and at least ``min_interval`` apart, which keeps them well inside its
documented request weights; a 429 or 418 with ``Retry-After`` pauses every
request to that exchange until it has passed, then the request is retried.
"""

import http.client
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import gevent
import orjson
from gevent import socket
from gevent.lock import Semaphore

from app.adapters.net.connector import Connector, Destination, retry_after

# A page of 1,000 trades is about 150 KB; anything far larger is not an answer we asked for.
MAX_BODY_BYTES = 8 * 1024 * 1024
# Retried requests after rate limits, before giving up on one request.
MAX_RATE_LIMITED = 5


class RestError(OSError):
    """The exchange answered with an error status or something that is not JSON."""


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def close(self) -> None:
        """Nothing to close: the socket is closed once the answer is read."""


class RestClient:
    def __init__(
        self,
        source: str,
        base_url: str,
        connector: Connector,
        timeout: float,
        tls: ssl.SSLContext,
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base = urlsplit(base_url)
        secure = base.scheme == "https"
        self._host = base.hostname or ""
        port = base.port or (443 if secure else 80)
        self._host_header = self._host if base.port is None else f"{self._host}:{port}"
        self._destination = Destination(source, self._host, port, timeout, tls if secure else None)
        self._connector = connector
        self._min_interval = min_interval
        self._clock = clock
        self._one_at_a_time = Semaphore()
        self._next_at = 0.0
        self.paused_until = 0.0
        self.rate_limited = 0

    def get(self, path: str, params: Mapping[str, object]) -> object:
        """The decoded JSON answer; raises ``OSError`` (``RestError`` for a bad answer)."""
        target = f"{path}?{urlencode(params)}"
        with self._one_at_a_time:
            for _ in range(MAX_RATE_LIMITED):
                gevent.sleep(max(0.0, max(self._next_at, self.paused_until) - self._clock()))
                self._next_at = self._clock() + self._min_interval
                answer = self._connector.exchange(self._destination, lambda sock: self._request(sock, target))
                if answer.status in (418, 429):
                    self.rate_limited += 1
                    self.paused_until = self._clock() + retry_after(answer.headers)
                    continue
                if answer.status != 200:
                    raise RestError(f"HTTP {answer.status} from {path}: {answer.body[:120]!r}")
                try:
                    return orjson.loads(answer.body)
                except orjson.JSONDecodeError:
                    raise RestError(f"not JSON from {path}: {answer.body[:60]!r}") from None
        raise RestError(f"still rate limited after {MAX_RATE_LIMITED} tries")

    def _request(self, sock: socket.socket, target: str) -> _Answer:
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: application/json\r\n"
            "User-Agent: marketflow\r\nConnection: close\r\n\r\n"
        )
        try:
            sock.sendall(request.encode("ascii"))
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = response.read(MAX_BODY_BYTES + 1)
        finally:
            sock.close()
        if len(body) > MAX_BODY_BYTES:
            raise RestError(f"answer over {MAX_BODY_BYTES} bytes")
        return _Answer(response.status, dict(response.getheaders()), body)
