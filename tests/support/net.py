"""Loopback helpers: free ports and a stand-in for one exchange program."""

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import gevent

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, message: str = "condition"
) -> T:
    """Poll until ``predicate()`` returns something truthy; return it.

    It waits with ``gevent.sleep``, so a service running in this process (tests/support/in_process.py)
    goes on meanwhile; outside gevent's loop that is a plain sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        gevent.sleep(interval)


class LineExchange:
    """A real TCP server on loopback that pushes the lines a test gives it to every client.

    ``greeting`` is sent to each client the moment it is accepted, as exchange programs that speak first do.
    """

    def __init__(self, port: int | None = None, greeting: bytes = b"") -> None:
        self.port = port or free_port()
        self._greeting = greeting
        self._server = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._server.settimeout(0.2)
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.connections = 0
        self.peers: list[str] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, address = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._greeting:
                client.sendall(self._greeting)
            with self._lock:
                self._clients.append(client)
                self.peers.append(address[0])
                self.connections += 1

    def wait_connected(self, timeout: float = 10.0) -> None:
        wait_for(lambda: self._clients, timeout, message=f"a client on port {self.port}")

    def send(self, *lines: bytes) -> None:
        """Send each line, newline-terminated."""
        self.send_raw(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))

    def send_raw(self, payload: bytes) -> None:
        """Send bytes exactly as given, to test framing across reads."""
        with self._lock:
            for client in list(self._clients):
                try:
                    client.sendall(payload)
                except OSError:
                    self._clients.remove(client)

    def drop_clients(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def close(self) -> None:
        self._stop.set()
        self.drop_clients()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the waiting accept() now, not at its next timeout
        self._server.close()
        self._thread.join(timeout=2)
