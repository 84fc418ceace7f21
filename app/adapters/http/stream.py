"""``GET /ws/prices``: every processed tick as JSON, over WebSocket (gevent-websocket).

Choose what to receive with ``?symbols=BTCUSDT,ETHUSDT&exchanges=exchange1``
or, at any time, a message ``{"subscribe": {"symbols": [...], "exchanges": [...]}}``
(empty or absent means all). Messages to the client:
``{"type":"subscribed",...}``, ``{"type":"tick","exchange","symbol","price","timestamp","ts"}``,
``{"type":"error","error":...}``. A client too slow to take its messages is
closed with code 1008 once it has been behind for ``stream.max_lag_seconds``
(as is a first subscription naming an unknown symbol or exchange); one that
stops reading altogether is cut off after ``stream.max_send_seconds``; on
shutdown every client gets 1001.
"""

import contextlib
import logging
import socket
import struct

import gevent
import orjson
from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from geventwebsocket.exceptions import WebSocketError
from geventwebsocket.websocket import WebSocket

from app.adapters.http.errors import error_response
from app.adapters.http.formatting import iso_ms
from app.adapters.http.services import services
from app.application.price_stream import PriceStream, Subscriber
from app.domain.errors import DomainError
from app.domain.market import Market

log = logging.getLogger(__name__)
stream_bp = Blueprint("stream", __name__)

GOING_AWAY, POLICY_VIOLATION = 1001, 1008
MAX_CLIENT_MESSAGE = 4096
CLOSE_TIMEOUT = 5.0
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


def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Send a close frame with a status code and reason.

    gevent-websocket 0.10.1's ``close`` ignores ``code`` and mangles a bytes
    payload, so the frame is built here; marking the socket closed keeps the
    library from sending a second, malformed one.
    """
    try:
        with gevent.Timeout(CLOSE_TIMEOUT):
            ws.send_frame(struct.pack("!H", code) + reason.encode()[:120], WebSocket.OPCODE_CLOSE)
    except (WebSocketError, gevent.Timeout):
        _abort(ws)
    ws.closed = True


def _abort(ws: WebSocket) -> None:
    """Drop the connection without a close frame: one may be half written, so none can follow."""
    ws.closed = True
    with contextlib.suppress(OSError):
        ws.handler.socket.shutdown(socket.SHUT_RDWR)


def _send_ticks(ws: WebSocket, stream: PriceStream, subscriber: Subscriber) -> None:
    while not subscriber.closed:
        subscriber.ready.wait()
        for tick in subscriber.take():
            if subscriber.behind_for() > stream.max_lag_seconds:
                log.warning("stream client too slow, closing", extra={"coalesced": subscriber.coalesced})
                _close(ws, POLICY_VIOLATION, f"client too slow: behind for over {stream.max_lag_seconds:g}s")
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
        _close(ws, GOING_AWAY, "server shutting down")


@stream_bp.route("/ws/prices", websocket=True)
def prices() -> ResponseReturnValue:
    ws = request.environ.get("wsgi.websocket")
    if ws is None:
        return error_response("this endpoint speaks WebSocket: connect with a WebSocket client", 400)
    with contextlib.suppress(OSError):
        ws.handler.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    container = services()
    stream, market = container.stream, container.market
    subscriber = stream.subscribe()
    sender = None
    try:
        try:
            hello = _apply(subscriber, market, request.args.get("symbols"), request.args.get("exchanges"))
        except DomainError as exc:
            ws.send(orjson.dumps({"type": "error", "error": str(exc)}).decode())
            _close(ws, POLICY_VIOLATION, str(exc))
            return ""
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
            sender.join(timeout=2)
            sender.kill()
    return ""


def _client_message(subscriber: Subscriber, market: Market, message: str | bytes) -> dict:
    if len(message) > MAX_CLIENT_MESSAGE:
        return {"type": "error", "error": f"message too long (limit {MAX_CLIENT_MESSAGE} bytes)"}
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
