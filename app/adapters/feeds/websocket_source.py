"""Live mode: one real exchange over WebSocket (websocket-client, under gevent).

The loop: pace, connect (through the ``Connector``), subscribe, then read.
Data messages go raw to the pipeline; acks, pongs and errors are handled
here. Liveness is watched two ways: any frame at all within
``liveness_timeout`` (is the socket alive?) and trade data within
``silence_timeout`` (is the channel alive?). Any failure ends the
connection and the loop backs off before the next attempt.
"""

import logging
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import websocket
from gevent import socket

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol
from app.adapters.feeds.reconnecting import mark_connected, reconnect_forever
from app.adapters.net.connector import Connector, Destination
from app.application.backoff import Backoff, ConnectPacer
from app.application.ports import Emit, SourceStatus
from app.domain.errors import InvalidTick

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
IGNORE = Control("ignore")


@dataclass(frozen=True)
class WebSocketSettings:
    url: str
    connect_timeout: float
    silence_timeout: float
    ack_timeout: float
    ping_interval: float | None
    tls: ssl.SSLContext  # used only when the URL is wss://


class WebSocketSource:
    def __init__(
        self,
        name: str,
        protocol: ExchangeProtocol,
        settings: WebSocketSettings,
        connector: Connector,
        backoff: Backoff,
        pacer: ConnectPacer,
    ) -> None:
        self.name = name
        self.decode = protocol.decode
        self._protocol = protocol
        self._settings = settings
        self._connector = connector
        self._backoff = backoff
        self._pacer = pacer
        url = urlsplit(settings.url)
        tls = url.scheme == "wss"
        self._destination = Destination(
            name,
            url.hostname or "",
            url.port or (443 if tls else 80),
            settings.connect_timeout,
            settings.tls if tls else None,
        )

    def run(self, emit: Emit, status: SourceStatus) -> None:
        reconnect_forever(status, lambda: self._session(emit, status), self._backoff, self._pacer)

    def _session(self, emit: Emit, status: SourceStatus) -> str:
        ws = self._connect()
        try:
            mark_connected(status)
            return self._pump(ws, emit, status)
        finally:
            ws.shutdown()

    def _connect(self) -> websocket.WebSocket:
        return self._connector.open(self._destination, self._handshake)

    def _handshake(self, sock: socket.socket) -> websocket.WebSocket:
        """Upgrade and subscribe: an exchange that refuses either is unreachable this way."""
        ws = websocket.create_connection(
            self._settings.url, socket=sock, timeout=self._settings.connect_timeout, enable_multithread=False
        )
        try:
            for message in self._protocol.subscribe_messages():
                ws.send(message)
        except BaseException:
            ws.shutdown()
            raise
        ws.settimeout(POLL_SECONDS)
        return ws

    def _pump(self, ws: websocket.WebSocket, emit: Emit, status: SourceStatus) -> str:
        """Read until the connection must end; returns why."""
        settings, protocol = self._settings, self._protocol
        opened = last_frame = last_data = last_ping = time.monotonic()
        acked = False
        while True:
            try:
                opcode, payload = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                opcode, payload = None, None
            now = time.monotonic()
            if opcode is not None:
                last_frame = now
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return f"closed by the exchange: {_close_reason(payload)}"
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                if isinstance(payload, str):
                    payload = payload.encode()
                text = payload.decode("utf-8", "replace")
                try:
                    control = protocol.control(text)
                except InvalidTick as exc:
                    status.decode_errors[exc.reason] = status.decode_errors.get(exc.reason, 0) + 1
                    control = IGNORE
                if control is None:
                    last_data = now
                    emit([payload])
                elif control.kind == "ack":
                    acked = True
                elif control.kind == "error":
                    status.last_exchange_error = control.detail
                    log.error("exchange error", extra={"exchange": self.name, "error": control.detail})
                elif control.kind == "reconnect":
                    return f"exchange asked to reconnect: {control.detail}"
            if now - last_frame > 2 * (settings.ping_interval or settings.silence_timeout):
                return f"no frame for {now - last_frame:.0f}s"
            if now - last_data > settings.silence_timeout:
                return f"no trade for {settings.silence_timeout:g}s"
            if not acked and now - opened > settings.ack_timeout:
                return f"subscription not acknowledged within {settings.ack_timeout:g}s"
            if protocol.max_connection_age and now - opened > protocol.max_connection_age:
                return "planned reconnect before the exchange's connection age limit"
            if settings.ping_interval and now - last_ping >= settings.ping_interval:
                if protocol.ping_payload is None:
                    ws.ping()
                else:
                    ws.send(protocol.ping_payload)
                last_ping = now


def _close_reason(payload: bytes) -> str:
    if len(payload) < 2:
        return "no status"
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", "replace")
    return f"{code} {reason}".strip()
