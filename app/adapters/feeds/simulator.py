"""A stand-in for the three exchange programs: TCP servers pushing JSON lines.

Each port gets its own random walk and pushes the same lines to every
client; a slow or gone client is dropped, never waited for.
"""

import logging

import gevent
from gevent import socket
from gevent.server import StreamServer

from app.adapters.feeds.synthetic import RandomWalk

log = logging.getLogger(__name__)
SEND_TIMEOUT = 2.0


class ExchangeProgram:
    def __init__(self, host: str, port: int, symbols: list[str], rate_per_symbol: float) -> None:
        self._clients: set[socket.socket] = set()
        self._walk = RandomWalk(symbols, rate_per_symbol)
        self._server = StreamServer((host, port), self._accept)
        self.port = port

    def _accept(self, client: socket.socket, address: tuple) -> None:
        client.settimeout(SEND_TIMEOUT)
        self._clients.add(client)
        log.info("client connected", extra={"port": self.port, "client": f"{address[0]}:{address[1]}"})
        # The server closes the socket when this handler returns: hold it open until dropped.
        while client in self._clients:
            gevent.sleep(0.5)

    def _broadcast(self, lines: list[bytes]) -> None:
        payload = b"\n".join(lines) + b"\n"
        for client in list(self._clients):
            try:
                client.sendall(payload)
            except OSError:
                self._clients.discard(client)

    def serve(self) -> gevent.Greenlet:
        self._server.start()
        return gevent.spawn(self._walk.run, self._broadcast)

    def stop(self) -> None:
        self._server.stop(timeout=1)
        self._clients.clear()
