"""Every worker's WebSocket clients see every feed: ticks go out over the relay, and come in from it.

A feed is read by one process, but a client's ``/ws/prices`` connection
may land on any worker of any host. This process's own ticks reach its own
clients at once (Redis or not) and are sent to the others in batches from
a bounded buffer (past ``MAX_BUFFERED`` the oldest are dropped and counted:
a live stream prefers the newest prices); batches from other processes go
to this process's clients.

Only while another process has a client (as its last heartbeat says): at
market width every tick sent to every process would cost each one the
whole market's decoding. A client's first ticks from other processes come
with its worker's next heartbeat (``leases.ttl_seconds`` / 8).
"""

import logging
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import gevent
from gevent.event import Event

from app.application.ports.coordination import TickRelay
from app.application.ports.storage import StorageUnavailable
from app.application.price_stream import PriceStream
from app.domain.tick import Tick

log = logging.getLogger(__name__)
MAX_BUFFERED = 20_000
SEND_EVERY_SECONDS = 0.05
RETRY_SECONDS = 1.0


class Peers(Protocol):
    """The other processes' WebSocket clients, as of their last heartbeats (``FeedOwnership``)."""

    stream_clients_elsewhere: int


class StreamRelay:
    def __init__(self, relay: TickRelay, stream: PriceStream, run: str, peers: Peers) -> None:
        self._relay = relay
        self._peers = peers
        self._stream = stream
        self._run = run
        self._buffer: deque[Tick] = deque(maxlen=MAX_BUFFERED)
        self._pending = Event()
        self._greenlets: list[gevent.Greenlet] = []
        self.dropped = 0

    def observe(self, ticks: Sequence[Tick]) -> None:
        """This process's ticks (a ``TickObserver`` of the pipeline)."""
        self._stream.publish(ticks)
        overflow = len(self._buffer) + len(ticks) - MAX_BUFFERED
        if overflow > 0:
            self.dropped += overflow
        self._buffer.extend(ticks)
        self._pending.set()

    def start(self) -> None:
        if not self._greenlets:
            self._greenlets = [gevent.spawn(self._send_forever), gevent.spawn(self._listen_forever)]

    def stop(self) -> None:
        gevent.killall(self._greenlets)
        self._greenlets = []

    def _send_forever(self) -> None:
        while True:
            self._pending.wait()
            self._pending.clear()
            batch = list(self._buffer)
            self._buffer.clear()
            if not self._peers.stream_clients_elsewhere:
                continue
            try:
                self._relay.send(self._run, batch)
            except StorageUnavailable:
                self.dropped += len(batch)  # other workers' clients miss these; this worker's had them
            gevent.sleep(SEND_EVERY_SECONDS)

    def _listen_forever(self) -> None:
        while True:
            try:
                self._relay.listen(self._received)
            except StorageUnavailable:
                gevent.sleep(RETRY_SECONDS)

    def _received(self, run: str, ticks: list[Tick]) -> None:
        if run != self._run:
            self._stream.publish(ticks)
