"""``GET /ws/prices``: every processed tick as JSON, over WebSocket.

Choose what to receive with ``?symbols=BTCUSDT,ETHUSDT&exchanges=exchange1``
or, at any time, a message ``{"subscribe": {"symbols": [...], "exchanges": [...]}}``
(empty or absent means all). Messages to the client:
``{"type":"subscribed",...}``, ``{"type":"tick","exchange","symbol","price","timestamp","ts"}``,
``{"type":"error","error":...}``. A client too slow to take its messages is
closed with code 1008 once it has been behind for ``stream.max_lag_seconds``
(as is a first subscription naming an unknown symbol or exchange); one that
stops reading altogether is cut off after ``stream.max_send_seconds``; on
shutdown every client gets 1001. After any close frame of ours a client has
``CLOSE_TIMEOUT`` to answer before the connection is dropped, so a silent
one can't hold shutdown. The upgrade itself is refused, as JSON, for a
foreign ``Origin`` (the control requests' rule) or a malformed handshake;
a client message over 4 KiB closes the connection with 1009 before its
payload is read (``ServerWebSocket``).
"""

import contextlib
import logging
import socket

import gevent
import orjson
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from geventwebsocket.exceptions import WebSocketError

from app.adapters.http.access import AccessDenied, denied
from app.adapters.http.errors import error_response
from app.adapters.http.services import services
from app.adapters.http.websocket import UPGRADE_KEY, HandshakeError, ServerWebSocket, accept_key
from app.application.price_stream import PriceStream, Subscriber
from app.domain.errors import DomainError
from app.domain.iso_instant import iso_ms
from app.domain.market import Market

log = logging.getLogger(__name__)
stream_bp = Blueprint("stream", __name__)

GOING_AWAY, POLICY_VIOLATION = 1001, 1008
# To send our close frame, then again for the client's answer.
CLOSE_TIMEOUT = 2.0
# A small kernel send buffer per client bounds its memory and makes a slow reader show up quickly.
SEND_BUFFER_BYTES = 64 * 1024


def _names(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise DomainError("symbols and exchanges must be lists of names")


def _apply(subscriber: Subscriber, market: Market, symbols: object, exchanges: object) -> dict:
    subscriber.symbols = frozenset(market.symbol(s) for s in _names(symbols))
    subscriber.exchanges = frozenset(market.exchange(e) for e in _names(exchanges))
    return {"type": "subscribed", "symbols": sorted(subscriber.symbols), "exchanges": sorted(subscriber.exchanges)}


def _close(ws: ServerWebSocket, code: int, reason: str) -> None:
    """Send a close frame with a status code and reason; drop the connection if even that blocks."""
    try:
        with gevent.Timeout(CLOSE_TIMEOUT):
            ws.close(code, reason)
    except gevent.Timeout:
        _abort(ws)


def _close_and_hang_up(ws: ServerWebSocket, code: int, reason: str) -> None:
    """Close, give the client ``CLOSE_TIMEOUT`` to answer (the view kills us when it does), then drop it."""
    _close(ws, code, reason)
    gevent.sleep(CLOSE_TIMEOUT)
    _abort(ws)


def _abort(ws: ServerWebSocket) -> None:
    """Drop the connection without a close frame: one may be half written, so none can follow."""
    ws.closed = True
    with contextlib.suppress(OSError):
        ws.handler.socket.shutdown(socket.SHUT_RDWR)


def _send_ticks(ws: ServerWebSocket, stream: PriceStream, subscriber: Subscriber) -> None:
    while not subscriber.closed:
        subscriber.ready.wait()
        for tick in subscriber.take():
            if subscriber.closed:
                break
            if subscriber.behind_for() > stream.max_lag_seconds:
                log.warning("stream client too slow, closing", extra={"coalesced": subscriber.coalesced})
                reason = f"client too slow: behind for over {stream.max_lag_seconds:g}s"
                _close_and_hang_up(ws, POLICY_VIOLATION, reason)
                return
            message = orjson.dumps(
                {
                    "type": "tick",
                    "exchange": tick.exchange,
                    "symbol": tick.symbol,
                    "price": tick.price,
                    "timestamp": iso_ms(tick.ts_ms),
                    "ts": tick.ts_ms,
                }
            ).decode()
            try:
                with gevent.Timeout(stream.max_send_seconds):
                    ws.send(message)
            except gevent.Timeout:
                log.warning("stream client stopped reading, dropping it")
                _abort(ws)
                return
    if stream.closing:
        _close_and_hang_up(ws, GOING_AWAY, "server shutting down")


@stream_bp.route("/ws/prices", websocket=True)
def prices() -> ResponseReturnValue:
    view = services()
    try:
        view.access.check_origin(request)
        accept = accept_key(request.environ.get("SERVER_PROTOCOL", ""), request.headers)
    except AccessDenied as exc:
        return denied(exc)
    except HandshakeError as exc:
        return jsonify(error=str(exc)), exc.status, exc.headers
    switch_protocols = request.environ.get(UPGRADE_KEY)
    if switch_protocols is None:
        return error_response("WebSocket needs the marketflow worker: gunicorn -c gunicorn.conf.py wsgi:app", 501)
    ws = switch_protocols(accept)
    with contextlib.suppress(OSError):
        ws.handler.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    _serve(ws, view.stream, view.market)
    return "", 101


def _serve(ws: ServerWebSocket, stream: PriceStream, market: Market) -> None:
    subscriber = stream.subscribe()
    sender = None
    try:
        try:
            hello = _apply(subscriber, market, request.args.get("symbols"), request.args.get("exchanges"))
        except DomainError as exc:
            ws.send(orjson.dumps({"type": "error", "error": str(exc)}).decode())
            _close(ws, POLICY_VIOLATION, str(exc))
            return
        ws.send(orjson.dumps(hello).decode())
        sender = gevent.spawn(_send_ticks, ws, stream, subscriber)
        while not subscriber.closed:
            message = ws.receive()
            if message is None:  # the client closed
                break
            ws.send(orjson.dumps(_client_message(subscriber, market, message)).decode())
    except WebSocketError:
        pass
    finally:
        stream.unsubscribe(subscriber)
        if sender is not None:
            sender.kill()


def _client_message(subscriber: Subscriber, market: Market, message: str | bytes) -> dict:
    try:
        body = orjson.loads(message)
    except orjson.JSONDecodeError:
        return {"type": "error", "error": 'send {"subscribe": {"symbols": [...], "exchanges": [...]}}'}
    if not isinstance(body, dict) or not isinstance(body.get("subscribe"), dict):
        return {"type": "error", "error": 'send {"subscribe": {"symbols": [...], "exchanges": [...]}}'}
    wanted = body["subscribe"]
    try:
        return _apply(subscriber, market, wanted.get("symbols"), wanted.get("exchanges"))
    except DomainError as exc:
        return {"type": "error", "error": str(exc)}
