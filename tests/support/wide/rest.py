"""A small JSON REST server on loopback that can be stopped and started again on the same port."""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# A query as parsed: every parameter with all its values (Coinbase repeats ``product_ids``).
Query = dict[str, list[str]]
# (HTTP status, JSON body, extra headers)
RestAnswer = tuple[int, object, dict[str, str]]
# What answers one path.
Route = Callable[[Query], RestAnswer]


def param(query: Query, name: str, default: str | None = None) -> str | None:
    """The first value of one parameter."""
    values = query.get(name)
    return values[0] if values else default


class RestServer:
    """Answers every GET with ``answer(path, query)``; ``stop`` makes the port refuse connections until ``start``."""

    def __init__(self, port: int, answer: Callable[[str, Query], RestAnswer]) -> None:
        self.port = port
        self._answer = answer
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        answer = self._answer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                status, body, headers = answer(url.path, parse_qs(url.query))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        # A short poll: ``stop`` waits for it, and tests stop servers often.
        threading.Thread(target=server.serve_forever, args=(0.05,), name=f"wide-rest-{self.port}", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
