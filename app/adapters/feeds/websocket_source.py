"""Live mode: one real exchange over WebSocket (websocket-client, under gevent).

The loop: pace, connect (through the ``Connector``), subscribe, then read.
Data messages go raw to the pipeline; acks, pongs and errors are handled
here. Liveness is watched two ways: any frame at all within
``liveness_timeout`` (is the socket alive?) and trade data within
``silence_timeout`` (is the channel alive?). Any failure ends the
connection and the loop backs off before the next attempt; the trades
missed meanwhile are found by ``TradeContinuity`` and recovered by this
feed's ``Backfill``, a greenlet this feed owns.

Planned reconnects (the exchange's connection age limit, Binance's
``serverShutdown``, OKX's notice) leave
no gap: the new connection is opened and subscribed first, the old one goes
on reading until the new one has carried trades for ``OVERLAP_SECONDS``
(trade ids drop what both delivered), and only then is it closed.

A symbol silent for ``symbol_silence`` while others trade is shown in
/health and resubscribed, one subscribe message at a time per
``RESUBSCRIBE_SPACING`` (Binance allows 5 incoming messages a second, OKX
480 subscribes an hour), and each symbol at most once per ``symbol_silence``.
"""

import contextlib
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import gevent
import websocket
from gevent import socket

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol
from app.adapters.feeds.reconnecting import mark_connected, reconnect_forever
from app.adapters.feeds.recovered import decode_recovered, encode_recovered, is_recovered
from app.adapters.net.connector import Connector, Destination
from app.application.backfill import Backfill
from app.application.backoff import Backoff, ConnectPacer
from app.application.ports.feeds import Emit
from app.application.source_status import SourceStatus
from app.application.trade_continuity import TradeContinuity
from app.domain.clock_skew import ClockSkew
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade
from app.domain.validation import to_timestamp_ms

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
IGNORE = Control("ignore")
# How long both connections carry trades before the old one is closed (ids drop the overlap).
OVERLAP_SECONDS = 1.0
RESUBSCRIBE_SPACING = 1.0


@dataclass(frozen=True)
class WebSocketSettings:
    url: str
    connect_timeout: float
    silence_timeout: float
    ack_timeout: float
    ping_interval: float | None
    tls: ssl.SSLContext  # used only when the URL is wss://
    max_connection_age: float | None
    symbol_silence: float


class _Planned(str):
    """Why the connection should be replaced by a new one opened first (not just ended)."""


@dataclass
class _Retiring:
    """The old connection of a handover, still read by its own greenlet until the new one carries trades."""

    ws: websocket.WebSocket
    reader: gevent.Greenlet


class WebSocketSource:
    def __init__(
        self,
        name: str,
        exchange: str,
        protocol: ExchangeProtocol,
        settings: WebSocketSettings,
        connector: Connector,
        backoff: Backoff,
        pacer: ConnectPacer,
        continuity: TradeContinuity,
        backfill: Backfill,
        skew: ClockSkew,
    ) -> None:
        self.name, self.exchange = name, exchange
        self.symbols = frozenset(protocol.symbols)
        self._protocol = protocol
        self._settings = settings
        self._connector = connector
        self._backoff = backoff
        self._pacer = pacer
        self._continuity = continuity
        self._backfill = backfill
        self._skew = skew
        self._missing = continuity.watch(name, exchange, sequential=protocol.sequential_ids)
        url = urlsplit(settings.url)
        tls = url.scheme == "wss"
        self._destination = Destination(
            name,
            url.hostname or "",
            url.port or (443 if tls else 80),
            settings.connect_timeout,
            settings.tls if tls else None,
        )

    def decode(self, raw: bytes) -> Iterator[Decoded]:
        """The protocol's trades, sampling clock skew on the way; recovered trades as they were recovered."""
        if is_recovered(raw):
            return decode_recovered(raw)
        return self._live(raw)

    def _live(self, raw: bytes) -> Iterator[Decoded]:
        received_ms = int(time.time() * 1000)
        for decoded in self._protocol.decode(raw):
            if not isinstance(decoded, InvalidTick):
                with contextlib.suppress(InvalidTick):  # counted when the tick is made
                    self._skew.add(received_ms, to_timestamp_ms(decoded[2]))
            yield decoded

    def run(self, emit: Emit, status: SourceStatus) -> None:
        status.measures_skew(self._skew)
        self._continuity.started(self.name)

        def emit_recovered(trades: list[RawTrade]) -> None:
            emit([encode_recovered(trades)])

        backfill = gevent.spawn(self._backfill.run, self._missing, emit_recovered, status)
        try:
            reconnect_forever(status, lambda: self._session(emit, status), self._backoff, self._pacer)
        finally:
            backfill.kill()

    def _session(self, emit: Emit, status: SourceStatus) -> str:
        ws = self._connect()
        self._continuity.reconnected(self.name)
        retiring: _Retiring | None = None
        try:
            mark_connected(status)
            while True:
                reason = self._pump(ws, emit, status, retiring)
                retiring = None
                if not isinstance(reason, _Planned):
                    return reason
                try:
                    new = self._connect()
                except (OSError, websocket.WebSocketException) as exc:
                    return f"{reason}; the new connection failed: {type(exc).__name__}: {exc}"[:300]
                log.info("planned reconnect: overlapping", extra={"exchange": self.name, "error": str(reason)})
                retiring = _Retiring(ws, gevent.spawn(self._pump, ws, emit, status, None, True))
                ws = new
                status.connected(time.time())
        finally:
            if retiring is not None:
                retiring.reader.kill()
                retiring.ws.shutdown()
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

    def _pump(
        self,
        ws: websocket.WebSocket,
        emit: Emit,
        status: SourceStatus,
        retiring: _Retiring | None,
        draining: bool = False,
    ) -> str:
        """Read until the connection must end; returns why (a ``_Planned`` reason: replace it first).

        ``retiring`` is the connection this one replaces, closed once this one has carried trades
        for ``OVERLAP_SECONDS``; ``draining`` is that old connection's own reading meanwhile.
        """
        settings, protocol = self._settings, self._protocol
        opened = last_frame = last_data = last_ping = time.monotonic()
        first_data: float | None = None
        acked = draining
        resubscriber = (
            None if draining else _Resubscriber(self.name, protocol, self._continuity, settings.symbol_silence, status)
        )
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
                    status.rejected(exc.reason)
                    control = IGNORE
                if control is None:
                    last_data = now
                    first_data = first_data or now
                    emit([payload])
                elif control.kind == "ack":
                    acked = True
                elif control.kind == "error":
                    status.exchange_said(control.detail)
                    log.error("exchange error", extra={"exchange": self.name, "error": control.detail})
                elif control.kind == "reconnect" and not draining:
                    return _Planned(f"exchange asked to reconnect: {control.detail}")
            if retiring is not None and (
                (first_data is not None and now - first_data >= OVERLAP_SECONDS)
                or now - opened >= settings.ack_timeout + OVERLAP_SECONDS
            ):
                retiring.reader.kill()
                retiring.ws.shutdown()
                retiring = None
            if now - last_frame > 2 * (settings.ping_interval or settings.silence_timeout):
                return f"no frame for {now - last_frame:.0f}s"
            if now - last_data > settings.silence_timeout:
                return f"no trade for {settings.silence_timeout:g}s"
            if not acked and now - opened > settings.ack_timeout:
                return f"subscription not acknowledged within {settings.ack_timeout:g}s"
            age_limit = settings.max_connection_age
            if not draining and retiring is None and age_limit and now - opened > age_limit:
                return _Planned("planned reconnect before the exchange's connection age limit")
            if resubscriber is not None:
                resubscriber.poll(ws, now)
            if settings.ping_interval and now - last_ping >= settings.ping_interval:
                if protocol.ping_payload is None:
                    ws.ping()
                else:
                    ws.send(protocol.ping_payload)
                last_ping = now


class _Resubscriber:
    """Per connection: which symbols are silent while others trade, and their paced resubscribes."""

    def __init__(
        self, name: str, protocol: ExchangeProtocol, continuity: TradeContinuity, silence: float, status: SourceStatus
    ) -> None:
        self._name = name
        self._protocol = protocol
        self._continuity = continuity
        self._silence = silence
        self._status = status
        self._checked = float("-inf")
        self._resubscribed: dict[str, float] = {}

    def poll(self, ws: websocket.WebSocket, now: float) -> None:
        """At most once per ``RESUBSCRIBE_SPACING``: refresh the silent symbols and resubscribe one that is due."""
        if now - self._checked < RESUBSCRIBE_SPACING:
            return
        self._checked = now
        silent = self._continuity.silent(self._name, self._protocol.symbols, self._silence)
        self._status.silent(silent)
        due = [s for s in silent if now - self._resubscribed.get(s, float("-inf")) >= self._silence]
        if not due:
            return
        symbol = due[0]
        log.warning("symbol silent while others trade: resubscribing", extra={"exchange": self._name, "symbol": symbol})
        for message in type(self._protocol)([symbol]).subscribe_messages():
            ws.send(message)
        self._resubscribed[symbol] = now
        self._status.resubscribed()


def _close_reason(payload: bytes) -> str:
    if len(payload) < 2:
        return "no status"
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", "replace")
    return f"{code} {reason}".strip()
