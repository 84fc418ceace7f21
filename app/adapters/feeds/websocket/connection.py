"""One WebSocket connection of a feed: the symbols it holds, its subscriptions, its liveness, its reconnects.

The loop: pace, connect (through the ``Connector``), then read, sending the
subscribe and unsubscribe requests its ``Subscriptions`` has due as the
exchange's pacing allows. Data messages go raw to the pipeline; acks,
refusals, pongs and errors are handled here. Liveness is watched two ways:
any frame at all within two ping intervals (is the socket alive?) and trade
data within the silence timeout (is the channel alive?). A connection whose
symbols stay quiet through such reconnects waits twice as long each time
(up to 64 times), so a shard of rarely traded pairs never reconnects in a
loop. Any failure ends the connection and the loop backs off before the
next attempt; the trades missed meanwhile are found by ``TradeContinuity``
and recovered by the feed's backfill.

Planned reconnects (the exchange's connection age limit, staggered per
connection by the feed; Binance's ``serverShutdown``; OKX's notice) leave no
gap: the new connection is opened and subscribed first, the old one goes on
reading until the new one has carried trades for ``OVERLAP_SECONDS`` (trade
ids drop what both delivered), and only then is it closed.

A symbol silent for ``symbol_silence`` while others trade is marked silent
and asked for again, one symbol per ``RESUBSCRIBE_SPACING`` (the requests go
through the same pacing), and each at most once per ``symbol_silence``.
"""

import logging
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

import gevent
import websocket
from gevent import socket

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol
from app.adapters.feeds.reconnecting import mark_connected, reconnect_forever
from app.adapters.feeds.websocket.subscriptions import Settled, Subscriptions
from app.adapters.net.connector import Connector, Destination
from app.application.backoff import Backoff, ConnectPacer
from app.application.ports.feeds import Emit
from app.application.source_status import SourceStatus
from app.application.trade_continuity import TradeContinuity
from app.domain.errors import InvalidTick

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
IGNORE = Control("ignore")
# How long both connections carry trades before the old one is closed (ids drop the overlap).
OVERLAP_SECONDS = 1.0
RESUBSCRIBE_SPACING = 1.0
# A connection whose symbols stayed quiet through this many reconnects waits 2**n times the silence timeout.
MAX_QUIET_DOUBLINGS = 6


@dataclass(frozen=True)
class WebSocketSettings:
    url: str
    connect_timeout: float
    silence_timeout: float
    ack_timeout: float
    ping_interval: float | None
    tls: ssl.SSLContext  # used only when the URL is wss://
    symbol_silence: float


class _Planned(str):
    """Why the connection should be replaced by a new one opened first (not just ended)."""


@dataclass
class _Retiring:
    """The old connection of a handover, still read by its own greenlet until the new one carries trades."""

    ws: websocket.WebSocket
    reader: gevent.Greenlet

    def close(self) -> None:
        """Its reader stopped and its socket closed; again is harmless."""
        self.reader.kill()
        self.ws.shutdown()


class ConnectionOwner(Protocol):
    """The feed that owns a connection's greenlet, and so is the one to close it."""

    def emptied(self, number: int) -> None:
        """Connection ``number`` has no symbol left to read: every one it held was refused."""


class ExchangeConnection:
    """Connection ``number`` of feed ``status.name``; ``age_limit``: its planned reconnect (None: never)."""

    def __init__(
        self,
        number: int,
        protocol: ExchangeProtocol,
        settings: WebSocketSettings,
        connector: Connector,
        destination: Destination,
        backoff: Backoff,
        pacer: ConnectPacer,
        continuity: TradeContinuity,
        status: SourceStatus,
        age_limit: float | None,
        owner: ConnectionOwner,
    ) -> None:
        self.number = number
        self._owner = owner
        self._protocol = protocol
        self._settings = settings
        self._connector = connector
        self._destination = destination
        self._backoff = backoff
        self._pacer = pacer
        self._continuity = continuity
        self._status = status
        self._link = status.link(number)
        self._age_limit = age_limit
        self._subs = Subscriptions(protocol)
        self._quiet_reconnects = 0

    @property
    def symbols(self) -> set[str]:
        return self._subs.wanted

    def add(self, symbols: Collection[str]) -> None:
        self._report(self._subs.add(symbols))

    def remove(self, symbols: Collection[str]) -> None:
        self._subs.remove(symbols)

    def run(self, emit: Emit) -> None:
        """Connect, read and reconnect until killed (by the feed that owns this greenlet)."""
        reconnect_forever(self._link, lambda: self._session(emit), self._backoff, self._pacer)

    def _report(self, settled: list[Settled]) -> None:
        for pair in settled:
            self._status.pairs([pair.symbol], pair.state, pair.detail)
            if pair.detail:
                log.warning(
                    "subscription refused",
                    extra={"exchange": self._status.name, "symbol": pair.symbol, "error": pair.detail},
                )
        if settled and not self._subs.wanted:
            self._owner.emptied(self.number)

    def _session(self, emit: Emit) -> str:
        ws = self._connect()
        self._continuity.reconnected(self._status.name, self._subs.wanted)
        retiring: _Retiring | None = None
        try:
            mark_connected(self._link)
            while True:
                reason = self._pump(ws, emit, retiring)
                if retiring is not None:  # the new connection ended before it took over: the old one ends too
                    retiring.close()
                    retiring = None
                if not isinstance(reason, _Planned):
                    return reason
                try:
                    new = self._connect()
                except (OSError, websocket.WebSocketException) as exc:
                    return f"{reason}; the new connection failed: {type(exc).__name__}: {exc}"[:300]
                log.info("planned reconnect: overlapping", extra={"exchange": self._status.name, "error": str(reason)})
                retiring = _Retiring(ws, gevent.spawn(self._pump, ws, emit, None, True))
                ws = new
                self._link.connected(time.time())
        finally:
            self._subs.closed()
            if retiring is not None:
                retiring.close()
            ws.shutdown()

    def _connect(self) -> websocket.WebSocket:
        return self._connector.open(self._destination, self._handshake)

    def _handshake(self, sock: socket.socket) -> websocket.WebSocket:
        """Upgrade: an exchange that refuses it is unreachable this way (subscriptions follow, paced)."""
        ws = websocket.create_connection(
            self._settings.url, socket=sock, timeout=self._settings.connect_timeout, enable_multithread=False
        )
        ws.settimeout(POLL_SECONDS)
        return ws

    def _pump(self, ws: websocket.WebSocket, emit: Emit, retiring: _Retiring | None, draining: bool = False) -> str:
        """Read until the connection must end; returns why (a ``_Planned`` reason: replace it first).

        ``retiring`` is the connection this one replaces, closed once this one has carried trades
        for ``OVERLAP_SECONDS``; ``draining`` is that old connection's own reading meanwhile (it sends nothing).
        """
        settings, protocol, status = self._settings, self._protocol, self._status
        opened = last_frame = last_data = last_ping = time.monotonic()
        first_data: float | None = None
        subs = None if draining else self._subs
        if subs is not None:
            self._report(subs.restart())
        resubscriber = None if subs is None else _Resubscriber(self._continuity, settings.symbol_silence, status)
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
                try:
                    control = protocol.control(payload.decode("utf-8", "replace"))
                except InvalidTick as exc:
                    status.rejected(exc.reason)
                    control = IGNORE
                if control is None:
                    last_data = now
                    first_data = first_data or now
                    self._quiet_reconnects = 0
                    emit([payload])
                elif control.kind in ("ack", "refused"):
                    if control.kind == "refused":  # in the exchange's words, whatever request it answers
                        status.exchange_said(control.detail)
                        log.error("exchange refused", extra={"exchange": status.name, "error": control.detail})
                    if subs is not None:
                        self._report(subs.answer(control))
                elif control.kind == "error":
                    status.exchange_said(control.detail)
                    log.error("exchange error", extra={"exchange": status.name, "error": control.detail})
                elif control.kind == "reconnect" and not draining:
                    return _Planned(f"exchange asked to reconnect: {control.detail}")
            if retiring is not None and (
                (first_data is not None and now - first_data >= OVERLAP_SECONDS)
                or now - opened >= settings.ack_timeout + OVERLAP_SECONDS
            ):
                retiring.close()
                retiring = None
            if now - last_frame > 2 * (settings.ping_interval or settings.silence_timeout):
                return f"no frame for {now - last_frame:.0f}s"
            silence = settings.silence_timeout * 2 ** min(self._quiet_reconnects, MAX_QUIET_DOUBLINGS)
            if now - last_data > silence:
                self._quiet_reconnects += 1
                return f"no trade for {silence:g}s"
            if not draining and retiring is None and self._age_limit and now - opened > self._age_limit:
                return _Planned("planned reconnect before the exchange's connection age limit")
            if subs is not None:
                if (waited := subs.overdue(now, settings.ack_timeout)) is not None:
                    return f"subscription not acknowledged within {settings.ack_timeout:g}s ({waited:.0f}s)"
                resubscriber.poll(subs, now)
                request = subs.due(now)
                if request is not None:
                    ws.send(request.text)
                    subs.sent(request, now)
            if settings.ping_interval and now - last_ping >= settings.ping_interval:
                if protocol.ping_payload is None:
                    ws.ping()
                else:
                    ws.send(protocol.ping_payload)
                last_ping = now


class _Resubscriber:
    """Per connection: which held symbols are silent while others trade, and their paced resubscribes."""

    def __init__(self, continuity: TradeContinuity, silence: float, status: SourceStatus) -> None:
        self._continuity = continuity
        self._silence = silence
        self._status = status
        self._checked = float("-inf")
        self._resubscribed: dict[str, float] = {}

    def poll(self, subs: Subscriptions, now: float) -> None:
        """At most once per ``RESUBSCRIBE_SPACING``: refresh the silent symbols and ask again for one that is due."""
        if now - self._checked < RESUBSCRIBE_SPACING:
            return
        self._checked = now
        held = subs.live
        silent = self._continuity.silent(self._status.name, held, self._silence)
        self._status.silent(silent, held)
        due = [s for s in silent if now - self._resubscribed.get(s, float("-inf")) >= self._silence]
        if not due:
            return
        symbol = due[0]
        log.warning(
            "symbol silent while others trade: resubscribing", extra={"exchange": self._status.name, "symbol": symbol}
        )
        subs.resubscribe([symbol])
        self._resubscribed[symbol] = now
        self._status.resubscribed()


def _close_reason(payload: bytes) -> str:
    if len(payload) < 2:
        return "no status"
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", "replace")
    return f"{code} {reason}".strip()
