"""The gunicorn worker: gevent's pywsgi with gevent-websocket, JSON errors, early drain.

- pywsgi + ``WebSocketHandler`` serve ``/ws/prices`` next to the REST API.
- Requests pywsgi rejects before the app sees them (a request line over
  8 KiB, a malformed request) get ``{"error": ...}`` like every other error,
  not an empty or HTML body.
- On SIGTERM the pipeline drain starts at once: WebSocket clients are told
  the server is going away instead of holding shutdown for the whole
  graceful timeout, and ``worker_exit`` then waits for the same drain.
"""

import gevent
import orjson
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler

from app.adapters.http.services import EXTENSION_KEY

_MESSAGES = {
    "400": ("Bad Request", "malformed HTTP request"),
    "414": ("Request URI Too Long", "the request line is too large (limit 8 KiB)"),
    "500": ("Internal Server Error", "internal error"),
}


def json_error(status: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line text, headers and body of the JSON answer to a protocol error."""
    reason, message = _MESSAGES.get(status, ("Error", "request failed"))
    body = orjson.dumps({"error": f"{reason}: {message}"})
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return f"{status} {reason}", headers, body


class JsonErrorHandler(WebSocketHandler):
    def handle_one_request(self) -> bool | tuple[str, bytes] | None:
        result = super().handle_one_request()
        if not isinstance(result, tuple):
            return result
        status = str(result[0])
        status_line, headers, body = json_error(status)
        head = "".join(f"{name}: {value}\r\n" for name, value in [("Connection", "close"), *headers])
        return status, f"HTTP/1.1 {status_line}\r\n{head}\r\n".encode("latin1") + body

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


class MarketflowWorker(GeventWebSocketWorker):
    wsgi_handler = JsonErrorHandler

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)
        container = self.wsgi.extensions.get(EXTENSION_KEY) if getattr(self, "wsgi", None) else None
        if container is not None:
            gevent.spawn(container.stop)  # out of the signal handler, like gunicorn's own handle_quit
