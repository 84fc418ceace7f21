"""Live mode: the exchange programs, raw TCP with one JSON object per line.

The line carries no exchange, so the source's configured name is the
exchange. Over-long lines are skipped and counted; a silent or broken
connection is closed and retried with backoff.
"""

from gevent import socket

from app.adapters.feeds.reconnecting import mark_connected, reconnect_forever
from app.adapters.feeds.wire_line import decode_line
from app.adapters.net.connector import Connector, Destination
from app.application.backoff import Backoff
from app.application.ports.feeds import Emit
from app.application.source_status import SourceStatus
from app.domain.pair_state import LIVE

READ_SIZE = 65_536
CONNECT_TIMEOUT = 10.0


class TcpLineSource:
    decode = staticmethod(decode_line)

    def __init__(
        self,
        name: str,
        symbols: frozenset[str],
        host: str,
        port: int,
        max_line_bytes: int,
        silence_timeout: float,
        connector: Connector,
        backoff: Backoff,
    ) -> None:
        self.name = self.exchange = name
        self.symbols = symbols
        self._connector = connector
        self._destination = Destination(name, host, port, CONNECT_TIMEOUT)
        self._max_line = max_line_bytes
        self._silence_timeout = silence_timeout
        self._backoff = backoff

    def run(self, emit: Emit, status: SourceStatus) -> None:
        status.pairs(self.symbols, LIVE)  # the program pushes every pair it has: nothing to subscribe to
        reconnect_forever(status, lambda: self._session(emit, status), self._backoff)

    def _session(self, emit: Emit, status: SourceStatus) -> str:
        sock = self._connector.open(self._destination, lambda connected: connected)
        sock.settimeout(self._silence_timeout)
        try:
            mark_connected(status)
            self._read(sock, emit, status)
        except TimeoutError:
            return f"no data for {self._silence_timeout:g}s"
        finally:
            sock.close()
        return "connection closed by the exchange"

    def _read(self, sock: socket.socket, emit: Emit, status: SourceStatus) -> None:
        pending = b""
        skipping = False  # inside an over-long line: drop bytes up to its newline
        while True:
            chunk = sock.recv(READ_SIZE)
            if not chunk:
                return
            *lines, tail = (pending + chunk).split(b"\n")
            if skipping and lines:
                lines, skipping = lines[1:], False
            complete = []
            for line in lines:
                if len(line) > self._max_line:
                    status.rejected("line_too_long")
                elif line.strip():
                    complete.append(line)
            if len(tail) > self._max_line:
                if not skipping:
                    status.rejected("line_too_long")
                tail, skipping = b"", True
            pending = tail
            if complete:
                emit(complete)
