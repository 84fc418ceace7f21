"""Real WebSocket servers on loopback that speak each exchange's protocol: Binance, Bybit, OKX, Coinbase, Kraken.

They answer subscribes and pings the way the exchanges document, record
everything a client sends, and let a test push trades, ping, close, drop
or fall silent.
"""

import contextlib
import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from app.domain.iso_instant import iso_ms
from tests.support.net import wait_for


def _binance_reply(message: str) -> list[str]:
    request = json.loads(message)
    if request.get("method") == "SUBSCRIBE":
        return [json.dumps({"result": None, "id": request["id"]})]
    return []


def _bybit_reply(message: str) -> list[str]:
    request = json.loads(message)
    if request.get("op") == "subscribe":
        reply = {"success": True, "ret_msg": "", "conn_id": "c1", "req_id": request["req_id"], "op": "subscribe"}
        return [json.dumps(reply)]
    if request.get("op") == "ping":
        return [json.dumps({"success": True, "ret_msg": "pong", "conn_id": "c1", "req_id": "", "op": "ping"})]
    return []


def _okx_reply(message: str) -> list[str]:
    if message == "ping":
        return ["pong"]
    request = json.loads(message)
    if request.get("op") == "subscribe":
        return [json.dumps({"event": "subscribe", "arg": arg, "connId": "c1"}) for arg in request["args"]]
    return []


def _coinbase_reply(message: str) -> list[str]:
    request = json.loads(message)
    if request.get("type") != "subscribe":
        return []
    ack = {
        "channel": "subscriptions",
        "events": [{"subscriptions": {request["channel"]: request.get("product_ids", [])}}],
    }
    replies = [json.dumps(ack)]
    if request["channel"] == "market_trades":  # recent history first, as Coinbase does
        snapshot = {
            "type": "snapshot",
            "trades": [_coinbase_trade(p, "1.0", "2025-01-01T00:00:00Z") for p in request["product_ids"]],
        }
        replies.append(json.dumps({"channel": "market_trades", "events": [snapshot]}))
    return replies


def _kraken_reply(message: str) -> list[str]:
    request = json.loads(message)
    if request.get("method") == "ping":
        return [json.dumps({"method": "pong", "time_in": "x", "time_out": "y"})]
    if request.get("method") != "subscribe":
        return []
    symbols = request["params"]["symbol"]
    acks = [
        json.dumps({"method": "subscribe", "result": {"channel": "trade", "symbol": s}, "success": True})
        for s in symbols
    ]
    old = [
        {"symbol": s, "side": "buy", "price": 1.0, "qty": 1.0, "trade_id": 1, "timestamp": "2025-01-01T00:00:00Z"}
        for s in symbols
    ]
    return [
        *acks,
        json.dumps({"channel": "trade", "type": "snapshot", "data": old}),
        json.dumps({"channel": "heartbeat"}),
    ]


REPLIES = {
    "binance": _binance_reply,
    "bybit": _bybit_reply,
    "okx": _okx_reply,
    "coinbase": _coinbase_reply,
    "kraken": _kraken_reply,
}


# Trade ids unique across a test run, for the helpers' callers that don't care which id a trade has.
_ids = itertools.count(1)


def _next_ids(trades: list, ids: list[int] | None) -> list[int]:
    return ids if ids is not None else [next(_ids) for _ in trades]


def binance_trade(symbol: str, price: str, ts: int, trade_id: int | None = None, qty: str = "0.001") -> str:
    return json.dumps(
        {
            "e": "trade",
            "E": ts + 5,
            "s": symbol,
            "t": next(_ids) if trade_id is None else trade_id,
            "p": price,
            "q": qty,
            "T": ts,
            "m": True,
            "M": True,
        },
        separators=(",", ":"),
    )


def bybit_trades(symbol: str, trades: list[tuple[str, int]], ids: list[int] | None = None) -> str:
    data = [
        {"T": ts, "s": symbol, "S": "Buy", "v": "0.001", "p": price, "L": "PlusTick", "i": str(i), "BT": False}
        for i, (price, ts) in zip(_next_ids(trades, ids), trades, strict=True)
    ]
    return json.dumps({"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": trades[-1][1] + 3, "data": data})


def okx_trades(inst_id: str, trades: list[tuple[str, int]], ids: list[int] | None = None) -> str:
    data = [
        {"instId": inst_id, "tradeId": str(i), "px": price, "sz": "0.001", "side": "buy", "ts": str(ts), "count": "1"}
        for i, (price, ts) in zip(_next_ids(trades, ids), trades, strict=True)
    ]
    return json.dumps({"arg": {"channel": "trades", "instId": inst_id}, "data": data})


def _coinbase_trade(product: str, price: str, time_text: str) -> dict:
    return {
        "trade_id": str(next(_ids)),
        "product_id": product,
        "price": price,
        "size": "0.001",
        "side": "BUY",
        "time": time_text,
    }


def coinbase_trades(product: str, trades: list[tuple[str, int]]) -> str:
    rows = [_coinbase_trade(product, price, iso_ms(ts)) for price, ts in trades]
    return json.dumps({"channel": "market_trades", "events": [{"type": "update", "trades": rows}]})


def kraken_trades(pair: str, trades: list[tuple[str, int]]) -> str:
    data = [
        {"symbol": pair, "side": "buy", "price": float(price), "qty": 0.001, "trade_id": i, "timestamp": iso_ms(ts)}
        for i, (price, ts) in zip(_next_ids(trades, None), trades, strict=True)
    ]
    return json.dumps({"channel": "trade", "type": "update", "data": data})


def _waiting_cooperatively(close: Callable[[], None], what: str) -> None:
    """Run ``close``, which waits for a client's answer to a close frame, and wait for it through ``wait_for``:
    a client in the test's own process (tests/support/in_process.py) answers only while the test yields."""
    closing = threading.Thread(target=close, daemon=True)
    closing.start()
    wait_for(lambda: not closing.is_alive(), timeout=15, message=what)


class FakeExchange:
    def __init__(self, kind: str, tls: ssl.SSLContext | None = None, acks: bool = True) -> None:
        self.kind = kind
        self._reply = REPLIES[kind]
        self._acks = acks
        # Refuse the handshake (403) to clients connecting straight from 127.0.0.1.
        self.block_direct = False
        # Answer handshakes with 429 and this Retry-After (seconds) while set.
        self.rate_limit: int | None = None
        self.attempts: list[float] = []  # monotonic time of every handshake attempt
        self.peers: list[str] = []  # the address of every accepted connection
        self.received: list[str] = []
        self.connects = 0
        self._connections: list[ServerConnection] = []
        self._lock = threading.Lock()
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=tls,
            ping_interval=None,
            compression=None,
            process_request=self._gate,
        )
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _gate(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts.append(time.monotonic())
        if self.rate_limit is not None:
            response = connection.respond(429, "Too many requests\n")
            response.headers["Retry-After"] = str(self.rate_limit)
            return response
        if self.block_direct and connection.remote_address[0] == "127.0.0.1":
            return connection.respond(403, "direct connections are blocked\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.peers.append(connection.remote_address[0])
            self.connects += 1
            self._connections.append(connection)
        try:
            for message in connection:
                self.received.append(message)
                replies = self._reply(message)
                if not self._acks:
                    replies = [r for r in replies if not any(w in r for w in ("subscri", '"result"', "snapshot"))]
                for reply in replies:
                    connection.send(reply)
        except (ConnectionClosed, OSError):
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def wait_subscribed(self, connects: int = 1, timeout: float = 15) -> None:
        wait_for(lambda: self.connects >= connects and self._connections and self.subscribes() >= connects, timeout)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def subscribes(self) -> int:
        return sum(1 for m in self.received if "subscribe" in m.lower())

    def send(self, *messages: str) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(ConnectionClosed, OSError):
                for message in messages:
                    connection.send(message)

    def ping_clients(self, timeout: float = 5) -> bool:
        """Ping every client; True when all answered with a pong.

        Polled through ``wait_for``: a client in the test's own process answers only while the test yields.
        """
        with self._lock:
            waiters = [connection.ping(b"keepalive") for connection in self._connections]
        try:
            wait_for(lambda: all(w.is_set() for w in waiters), timeout, message="every client's pong")
        except AssertionError:
            return False
        return bool(waiters)

    def close_clients(self, code: int = 1001, reason: str = "going away") -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _waiting_cooperatively(lambda c=connection: c.close(code, reason), "a client's answer to our close")

    def close_newest(self, code: int = 1001, reason: str = "going away") -> None:
        """Close the connection opened last (a planned reconnect's new one), leaving the others open."""
        with self._lock:
            newest = self._connections[-1]
        _waiting_cooperatively(lambda: newest.close(code, reason), "a client's answer to our close")

    def drop_clients(self) -> None:
        """Cut the TCP connections without a close frame."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.socket.shutdown(socket.SHUT_RDWR)
            connection.socket.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def close(self) -> None:
        """Close every connection (1001, going away) and stop listening."""
        _waiting_cooperatively(self._server.shutdown, f"the {self.kind} stand-in closed")


class BinanceHistoryServer:
    """Binance's ``GET /api/v3/historicalTrades`` on loopback, over a book of trades the test makes.

    ``keep_from`` is the oldest id it still has (the real one keeps far more); ``requests`` records each query.
    """

    def __init__(self) -> None:
        self.book: dict[str, list[dict]] = {}
        self.keep_from = 0
        self.requests: list[dict[str, str]] = []
        history = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                history.requests.append(query)
                start = max(int(query["fromId"]), history.keep_from)
                rows = [r for r in history.book.get(query["symbol"], []) if r["id"] >= start][: int(query["limit"])]
                body = json.dumps(rows).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def trade(self, symbol: str, trade_id: int, price: str, ts: int) -> str:
        """Record a trade in the book; returns its stream message."""
        self.book.setdefault(symbol, []).append(
            {"id": trade_id, "price": price, "qty": "0.001", "time": ts, "isBuyerMaker": True}
        )
        return binance_trade(symbol, price, ts, trade_id)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
