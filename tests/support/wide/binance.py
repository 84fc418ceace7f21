"""Binance spot: ``/ws`` with SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS, ``exchangeInfo`` and ``historicalTrades``.

Limits (doc unless marked): 1024 streams per connection (the one past it:
error code 4, then close 1008 "Invalid request", observed); 5 incoming
messages per second per connection, ping and pong frames and requests alike
(over it: close 1008 "Too many requests", observed); a text frame over 4096
bytes gets no reply and is not acted on (observed); a ping frame every 20 s,
answered within 60 s; 24 h per connection; 300 handshakes per 5 min per IP.
A SUBSCRIBE is acknowledged whatever it names: an unknown or delisted symbol's
stream simply stays silent (observed), and a stream named before its symbol
is listed starts once it trades.
"""

import json
import math
import threading
from decimal import Decimal
from typing import Unpack

from websockets.frames import Opcode

from tests.support.exchange_servers import binance_trade
from tests.support.wide.base import (
    DELISTED,
    HALTED,
    TRADING,
    Limits,
    Listed,
    Peer,
    Socket,
    Trade,
    WideExchange,
    now_ms,
    parse_object,
)
from tests.support.wide.limits import SlidingWindow
from tests.support.wide.rest import Query, RestAnswer, Route, param

STATUS = {TRADING: "TRADING", HALTED: "HALT", DELISTED: "BREAK"}
WEIGHT_PER_MINUTE = 6000


class BinancePeer(Peer):
    def __init__(self, ws: Socket, conn_id: str, per_second: int, ping_interval: float) -> None:
        super().__init__(ws, conn_id)
        self.recent = SlidingWindow(per_second, 1.0)
        self.next_ping = self.opened + ping_interval
        self.pong: threading.Event | None = None
        self.ping_sent = 0.0


class WideBinance(WideExchange):
    kind = "binance"
    ws_path = "/ws"
    rate_limited_body = {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."}
    default_handshake_limit = (300, 300.0)
    # The 6,000 weight a minute per IP, at each endpoint's weight (20 and 25).
    default_rest_limits = {
        "/api/v3/exchangeInfo": (WEIGHT_PER_MINUTE // 20, 60.0),
        "/api/v3/historicalTrades": (WEIGHT_PER_MINUTE // 25, 60.0),
    }

    def __init__(
        self,
        *,
        max_streams_per_connection: int = 1024,
        max_messages_per_second: int = 5,
        max_frame_bytes: int = 4096,
        ping_interval: float = 20.0,
        pong_timeout: float = 60.0,
        max_connection_age: float = 24 * 3600.0,
        **limits: Unpack[Limits],
    ) -> None:
        self.max_streams_per_connection = max_streams_per_connection
        self.max_messages_per_second = max_messages_per_second
        self.max_frame_bytes = max_frame_bytes
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_connection_age = max_connection_age
        super().__init__(**limits)

    def announce_shutdown(self) -> None:
        """The ``serverShutdown`` event Binance sends some minutes before a server goes away."""
        self.broadcast({"e": "serverShutdown", "E": now_ms()})

    # ---- the stream -----------------------------------------------------------------------------------------

    def new_peer(self, ws: Socket) -> Peer:
        return BinancePeer(ws, self.new_conn_id(), self.max_messages_per_second, self.ping_interval)

    def trade_topic(self, listed: Listed) -> str:
        return f"{listed.symbol.lower()}@trade"

    def symbol_of(self, topic: str) -> str | None:
        name, _, stream = topic.partition("@")
        return name.upper() if stream == "trade" and topic == topic.lower() else None

    def trade_message(self, listed: Listed, trade: Trade) -> str:
        return binance_trade(listed.symbol, trade.price, trade.ts_ms, trade.trade_id, trade.qty)

    def on_frame(self, peer: Peer, opcode: Opcode, now: float) -> None:
        assert isinstance(peer, BinancePeer)
        if not peer.recent.hit(now) and not peer.closing:
            self.violate("message_rate", f"over {self.max_messages_per_second} messages in a second", peer)
            self.close_peer(peer, 1008, "Too many requests")

    def on_message(self, peer: Peer, text: str) -> None:
        if len(text.encode()) > self.max_frame_bytes:
            self.violate("frame_size", f"a {len(text.encode())}-byte request: Binance leaves it unanswered", peer)
            return
        request = self.parse_request(peer, text)
        if request is None:
            return
        method, request_id = request["method"], request.get("id")
        params = request.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and not (
            isinstance(params, list) and all(isinstance(p, str) for p in params)
        ):
            self.reject(peer, 2, "Invalid request: params must be a list of stream names", request_id)
            return
        if method == "SUBSCRIBE":
            self.subscribe(peer, params, request_id)
        elif method == "UNSUBSCRIBE":
            self.remove_topics(peer, params)
            self.send(peer, {"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            self.send(peer, {"result": sorted(peer.topics), "id": request_id})
        else:
            self.reject(peer, 2, f"Invalid request: unknown variant `{method}`", request_id)

    def parse_request(self, peer: Peer, text: str) -> dict | None:
        """The request, or None after answering with Binance's documented error for a malformed one."""
        request = parse_object(text)
        if request is None:
            self.reject(peer, 3, "Invalid JSON: expected an object", None)
            return None
        if "method" not in request:
            self.reject(peer, 2, "Invalid request: missing field `method`", request.get("id"))
            return None
        if "id" not in request:
            self.reject(peer, 2, "Invalid request: missing field `id`", None)
            return None
        return request

    def subscribe(self, peer: Peer, streams: list[str], request_id: object) -> None:
        added = set(streams) - peer.topics
        if len(peer.topics) + len(added) > self.max_streams_per_connection:
            self.violate(
                "streams_per_connection",
                f"{len(peer.topics) + len(added)} streams, over {self.max_streams_per_connection}",
                peer,
            )
            self.send(peer, {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": request_id})
            self.close_peer(peer, 1008, "Invalid request")
            return
        self.add_topics(peer, added)
        self.send(peer, {"result": None, "id": request_id})

    def reject(self, peer: Peer, code: int, message: str, request_id: object) -> None:
        self.violate("bad_request", message, peer)
        self.send(peer, {"error": {"code": code, "msg": message}, "id": request_id})

    def tick(self, peer: Peer, now: float) -> float:
        """Ping every ``ping_interval``, close a connection that leaves a ping unanswered, retire old ones."""
        assert isinstance(peer, BinancePeer)
        if now - peer.opened >= self.max_connection_age:
            self.close_peer(peer, 1000, "connection age limit")
            return math.inf
        if peer.pong is not None and peer.pong.is_set():
            peer.pong = None
        if peer.pong is not None and now - peer.ping_sent >= self.pong_timeout:
            self.violate("pong_timeout", f"no pong within {self.pong_timeout:g}s", peer)
            self.close_peer(peer, 1008, "Pong timeout")
            return math.inf
        if peer.pong is None and now >= peer.next_ping:
            peer.pong = peer.ws.ping()
            peer.ping_sent = now
            peer.next_ping = now + self.ping_interval
        due = min(peer.next_ping, peer.opened + self.max_connection_age)
        if peer.pong is not None:
            due = min(due, peer.ping_sent + self.pong_timeout, now + 0.25)  # look for the pong soon
        return due

    # ---- REST -----------------------------------------------------------------------------------------------

    def rest_routes(self) -> dict[str, Route]:
        return {"/api/v3/exchangeInfo": self.exchange_info, "/api/v3/historicalTrades": self.historical_trades}

    def exchange_info(self, query: Query) -> RestAnswer:
        """``symbols[]`` as documented since 2024-04: permissions in ``permissionSets``, ``permissions`` empty."""
        markets = self.markets()
        named = param(query, "symbol")
        listed_names = json.loads(param(query, "symbols", "null") or "null")
        status = param(query, "symbolStatus")
        if status is not None and (named or listed_names):
            return 400, {"code": -1128, "msg": "Combination of optional parameters invalid."}, {}
        if status is not None and status not in ("TRADING", "HALT", "BREAK"):
            return 400, {"code": -1122, "msg": "Invalid symbolStatus."}, {}
        wanted = [named] if named else listed_names
        if wanted:
            known = {m.symbol for m in markets}
            if any(name not in known for name in wanted):
                return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
            markets = [m for m in markets if m.symbol in wanted]
        if status is not None:
            markets = [m for m in markets if STATUS[m.status] == status]
        show_sets = param(query, "showPermissionSets", "true") != "false"
        symbols = [
            {
                "symbol": m.symbol,
                "status": STATUS[m.status],
                "baseAsset": m.base,
                "baseAssetPrecision": 8,
                "quoteAsset": m.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "isSpotTradingAllowed": m.status != DELISTED,
                "isMarginTradingAllowed": False,
                "filters": [],
                "permissions": [],
                "permissionSets": [["SPOT"]] if show_sets else [],
            }
            for m in markets
        ]
        rate_limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_PER_MINUTE}
        ]
        body = {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": rate_limits,
            "exchangeFilters": [],
            "symbols": symbols,
        }
        return 200, body, {}

    def historical_trades(self, query: Query) -> RestAnswer:
        """Up to ``limit`` (500, at most 1000) trades from ``fromId`` on, or the latest without it."""
        symbol = param(query, "symbol")
        if symbol is None or self.market(symbol) is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
        limit = int(param(query, "limit", "500") or 500)
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}, {}
        book = self.history(symbol)
        from_id = param(query, "fromId")
        rows = [t for t in book if t.trade_id >= int(from_id)][:limit] if from_id else book[-limit:]
        body = [
            {
                "id": t.trade_id,
                "price": t.price,
                "qty": t.qty,
                "quoteQty": str(Decimal(t.price) * Decimal(t.qty)),
                "time": t.ts_ms,
                "isBuyerMaker": True,
                "isBestMatch": True,
            }
            for t in rows
        ]
        return 200, body, {}
