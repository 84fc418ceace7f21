"""The gunicorn worker: gevent's pywsgi, WebSocket upgrades, limits on slow clients, JSON errors, early drain.

- **WebSocket**: the handler offers ``environ[UPGRADE_KEY]``; the view checks
  the handshake and the origin first (any refusal is an ordinary JSON
  answer) and only then switches protocols. After that the connection is the
  WebSocket's and the application's own HTTP answer is dropped.
- **Slow and idle clients** (``http.*``): a request line and headers must
  arrive within ``header_timeout_seconds`` (408 otherwise), a kept-alive
  connection may sit idle ``keepalive_seconds`` between requests, and at
  most half of ``max_connections`` (gunicorn's ``worker_connections``) may be
  waiting for a request at once: past that, the one waiting longest is
  closed. So a thousand half-sent headers can never fill the pool: the other
  half is always free for clients that send a request at once.
- **Errors pywsgi answers itself** (a request line over 4 KiB, a malformed
  or too slow request) get ``{"error": ...}`` like every other error, and a
  malformed request is logged in one line, not a traceback.
- On SIGTERM the pipeline drain starts at once: WebSocket clients are told
  the server is going away instead of holding shutdown for the whole
  graceful timeout, and ``worker_exit`` then waits for the same drain.
"""

import logging
import warnings

import gevent
import orjson
from gevent.monkey import MonkeyPatchWarning
from geventwebsocket.websocket import Stream
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler, PyWSGIServer

from app.adapters.http.websocket import UPGRADE_KEY, ServerWebSocket
from app.adapters.server.runtime import runtime

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 4096
_MESSAGES = {
    "400": ("Bad Request", "malformed HTTP request"),
    "408": ("Request Timeout", "the request header did not arrive in time"),
    "414": ("Request URI Too Long", f"the request line is too large (limit {MAX_REQUEST_LINE // 1024} KiB)"),
    "500": ("Internal Server Error", "internal error"),
}


def json_error(status: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line text, headers and body of the JSON answer to a protocol error."""
    reason, message = _MESSAGES.get(status, ("Error", "request failed"))
    body = orjson.dumps({"error": f"{reason}: {message}"})
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return f"{status} {reason}", headers, body


class RequestLineTooLong(Exception):
    pass


class MarketflowServer(PyWSGIServer):
    """pywsgi's server plus the register of connections waiting for a request."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        http = runtime(self.application).config.http
        self.header_timeout: float = http.header_timeout_seconds
        self.keepalive: float = http.keepalive_seconds
        self.max_waiting: int = http.max_connections // 2
        self._waiting: dict[MarketflowHandler, gevent.Greenlet] = {}

    def start_waiting(self, handler: "MarketflowHandler") -> None:
        self._waiting[handler] = gevent.getcurrent()
        while len(self._waiting) > self.max_waiting:
            oldest = next(iter(self._waiting))
            self._waiting.pop(oldest).kill(block=False)

    def stop_waiting(self, handler: "MarketflowHandler") -> None:
        self._waiting.pop(handler, None)


class MarketflowHandler(PyWSGIHandler):
    server: MarketflowServer
    _served = 0
    _deadline: gevent.Timeout | None = None

    def read_requestline(self) -> str:
        self.server.start_waiting(self)
        if self._served and not self._readable_within(self.server.keepalive):
            return ""  # idle too long between requests: close quietly
        self._deadline = gevent.Timeout.start_new(self.server.header_timeout)
        line = self.rfile.readline(MAX_REQUEST_LINE + 2)
        if len(line.rstrip(b"\r\n")) > MAX_REQUEST_LINE:
            raise RequestLineTooLong
        return line.decode("latin-1")

    def _readable_within(self, seconds: float) -> bool:
        data = b""
        with gevent.Timeout(seconds, False):
            data = self.rfile.peek(1)
        return bool(data)

    def read_request(self, raw_requestline: str) -> bool:
        try:
            return super().read_request(raw_requestline)
        finally:
            self._header_read()

    def _header_read(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()  # kept: handle_one_request tells our timeout from others by it
        self.server.stop_waiting(self)

    def handle_one_request(self) -> bool | tuple[str, bytes] | None:
        try:
            result = super().handle_one_request()
        except RequestLineTooLong:
            result = ("414", b"")
        except gevent.Timeout as timeout:
            if timeout is not self._deadline:
                raise
            result = ("408", b"")
        finally:
            self._header_read()
        self._served += 1
        if not isinstance(result, tuple):
            return result
        status = str(result[0])
        status_line, headers, body = json_error(status)
        head = "".join(f"{name}: {value}\r\n" for name, value in [("Connection", "close"), *headers])
        return status, f"HTTP/1.1 {status_line}\r\n{head}\r\n".encode("latin1") + body

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes]:
        log.info("malformed request refused", extra={"peer": str(self.client_address)[:60], "error": str(ex)[:200]})
        return ("400", b"")

    def _send_error_response_if_possible(self, error_code: int) -> None:
        if self.response_length:
            self.close_connection = True
            return
        status_line, headers, body = json_error(str(error_code))
        try:
            self.start_response(status_line, headers)
            self.write(body)
        except OSError:
            self.close_connection = True

    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ[UPGRADE_KEY] = self.switch_protocols
        return environ

    def switch_protocols(self, accept: str) -> ServerWebSocket:
        """Answer 101 and hand the connection to a WebSocket (the view checked the handshake)."""
        self.start_response(
            "101 Switching Protocols",
            [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)],
        )
        self.write(b"")
        self.close_connection = True
        return ServerWebSocket(self.environ, Stream(self), self)

    def process_result(self) -> None:
        if self.connection_upgraded:  # the WebSocket had the connection; an HTTP answer has no place on it
            return
        super().process_result()

    def log_request(self) -> None:
        """Nothing: the app logs every request with its id (``request_log``)."""


# gevent's warning when the one module that took ssl's names before the patch is redis-py's asyncio part: the
# master imports redis-py (the config check parses ``redis.url`` with its own parser), and marketflow never uses
# redis.asyncio, so its unpatched names never run. Any other module named keeps the warning.
ONLY_REDIS_ASYNCIO = (
    r"(?s)Monkey-patching ssl after ssl has already been imported"
    r".*\['redis\.asyncio\.connection \([^)]*\)'\]\.\s*$"
)


class MarketflowWorker(GeventPyWSGIWorker):
    server_class = MarketflowServer
    wsgi_handler = MarketflowHandler

    def patch(self) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=ONLY_REDIS_ASYNCIO, category=MonkeyPatchWarning)
            super().patch()

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)
        services = runtime(self.wsgi) if getattr(self, "wsgi", None) else None
        if services is not None:
            gevent.spawn(services.stop)  # out of the signal handler, like gunicorn's own handle_quit
