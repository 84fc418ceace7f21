"""Bybit v5 spot: ``/v5/public/spot`` with ``op`` subscribe/unsubscribe/ping, ``instruments-info`` and ``recent-trade``.

Limits: at most 10 args per request on spot (``"args size >10"``, observed);
at most 21,000 characters of args per connection (doc; counted here as the
summed length of the topics the connection holds, and a request that would
pass it is refused whole); a connection the client leaves silent (no ping, no
request) for ``idle_timeout`` is closed (doc: 10 min without ping-pong);
500 new connections per 5 min per domain and 1,000 open per IP (doc).

A topic Bybit doesn't know is refused in its words (``Invalid symbol
:[publicTrade.XYZUSDT]``, observed on spot, where the rest of the request is
still subscribed); ``refuse_whole_request`` makes one bad topic sink the
request, as on linear. A halted market doesn't exist on spot (the list has
"Trading only"): ``halt`` is refused; a delisted market drops out of the list.
"""

import math
import uuid
from typing import Unpack

from websockets.http11 import Response
from websockets.sync.server import ServerConnection

from tests.support.exchange_servers import bybit_trades
from tests.support.wide.base import TRADING, Limits, Listed, Peer, Trade, WideExchange, now_ms, parse_object
from tests.support.wide.rest import Query, RestAnswer, Route, param

TOPIC = "publicTrade."


class WideBybit(WideExchange):
    kind = "bybit"
    ws_path = "/v5/public/spot"
    halt_supported = False
    # Bybit's IP limit answers 403 "access too frequent" (doc), not 429.
    rate_limited_status = 403
    rate_limited_body = {"retCode": 10006, "retMsg": "access too frequent", "result": {}, "retExtInfo": {}}
    default_handshake_limit = (500, 300.0)
    # 600 requests per 5 s per IP at each path.
    default_rest_limits = {path: (600, 5.0) for path in ("/v5/market/instruments-info", "/v5/market/recent-trade")}

    def __init__(
        self,
        *,
        max_args_per_request: int = 10,
        max_args_chars: int = 21_000,
        refuse_whole_request: bool = False,
        idle_timeout: float = 600.0,
        max_open_connections: int = 1000,
        **limits: Unpack[Limits],
    ) -> None:
        self.max_args_per_request = max_args_per_request
        self.max_args_chars = max_args_chars
        self.refuse_whole_request = refuse_whole_request
        self.idle_timeout = idle_timeout
        self.max_open_connections = max_open_connections
        super().__init__(**limits)

    # ---- the stream -----------------------------------------------------------------------------------------

    def new_conn_id(self) -> str:
        return str(uuid.uuid4())

    def admit(self, ws: ServerConnection, ip: str) -> Response | None:
        open_here = sum(1 for c in self.connections() if c.ip == ip)
        if open_here < self.max_open_connections:
            return None
        self.violate("open_connections", f"{ip}: over {self.max_open_connections} open connections")
        return ws.respond(429, "Too Many Requests\n")

    def trade_topic(self, listed: Listed) -> str:
        return TOPIC + listed.symbol

    def symbol_of(self, topic: str) -> str | None:
        return topic.removeprefix(TOPIC) if topic.startswith(TOPIC) else None

    def trade_message(self, listed: Listed, trade: Trade) -> dict:
        message = parse_object(bybit_trades(listed.symbol, [(trade.price, trade.ts_ms)], [trade.trade_id]))
        assert message is not None
        message["data"][0]["v"] = trade.qty
        return message

    def on_message(self, peer: Peer, text: str) -> None:
        request = parse_object(text)
        op = request.get("op") if request else None
        reply = {"conn_id": peer.conn_id, "op": op}
        if request is not None and "req_id" in request:
            reply["req_id"] = request["req_id"]
        if op == "ping":
            self.send(peer, {"success": True, "ret_msg": "pong", **reply})
            return
        args = request.get("args") if request else None
        if op not in ("subscribe", "unsubscribe") or not (
            isinstance(args, list) and all(isinstance(a, str) for a in args)
        ):
            self.violate("bad_request", f"not a ping, or a subscribe with a list of topics: {text[:60]}", peer)
            self.send(peer, {"success": False, "ret_msg": "error:invalid request", **reply})
            return
        if len(args) > self.max_args_per_request:
            self.violate("args_per_request", f"{len(args)} args, over {self.max_args_per_request}", peer)
            self.send(peer, {"success": False, "ret_msg": f"args size >{self.max_args_per_request}", **reply})
            return
        if op == "unsubscribe":
            self.remove_topics(peer, args)
            self.send(peer, {"success": True, "ret_msg": "", **reply})
            return
        self.subscribe(peer, args, reply)

    def subscribe(self, peer: Peer, topics: list[str], reply: dict) -> None:
        unknown = [t for t in topics if not self.tradable(t)]
        again = [t for t in topics if t in peer.topics]
        good = [t for t in topics if t not in unknown and t not in again]
        total = sum(map(len, peer.topics | set(good)))
        if good and total > self.max_args_chars:
            self.violate("args_chars", f"{total} characters of args, over {self.max_args_chars}", peer)
            reason = f"args length {total} exceeds {self.max_args_chars} characters per connection"
            for topic in topics:
                self.refuse(peer, topic, reason)
            self.send(peer, {"success": False, "ret_msg": reason, **reply})
            return
        errors = []
        if unknown:
            errors.append(f"Invalid symbol :[{','.join(unknown)}]")
        errors.extend(f"error:already subscribed,topic:{t}" for t in again)
        reason = ";".join(errors)
        for topic in [*unknown, *again]:
            self.refuse(peer, topic, reason)
        if errors and self.refuse_whole_request:
            for topic in good:
                self.refuse(peer, topic, reason)
        else:
            self.add_topics(peer, good)
        self.send(peer, {"success": not errors, "ret_msg": reason or "subscribe", **reply})

    def tradable(self, topic: str) -> bool:
        """A trade topic of a market on the spot list (a delisted one has dropped out of it)."""
        symbol = self.symbol_of(topic)
        listed = self.market(symbol) if symbol else None
        return listed is not None and listed.status == TRADING

    def tick(self, peer: Peer, now: float) -> float:
        if now - peer.last_heard >= self.idle_timeout:
            self.violate("idle", f"no ping or request for {self.idle_timeout:g}s", peer)
            self.close_peer(peer, 1000, "idle")
            return math.inf
        return peer.last_heard + self.idle_timeout

    # ---- REST -----------------------------------------------------------------------------------------------

    def rest_routes(self) -> dict[str, Route]:
        return {"/v5/market/instruments-info": self.instruments, "/v5/market/recent-trade": self.recent_trade}

    def answer(self, result: dict) -> RestAnswer:
        return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms()}, {}

    def error(self, message: str) -> RestAnswer:
        return 200, {"retCode": 10001, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms()}, {}

    def instruments(self, query: Query) -> RestAnswer:
        """Spot: every Trading market in one page (spot has no pagination: ``limit`` and ``cursor`` are ignored)."""
        if param(query, "category") != "spot":
            return self.error("Illegal category")
        named = param(query, "symbol")
        markets = [m for m in self.markets() if m.status == TRADING and named in (None, m.symbol)]
        rows = [
            {
                "symbol": m.symbol,
                "baseCoin": m.base,
                "quoteCoin": m.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "none",
                "stTag": "0",
                "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001"},
                "priceFilter": {"tickSize": "0.01"},
            }
            for m in markets
        ]
        return self.answer({"category": "spot", "list": rows, "nextPageCursor": ""})

    def recent_trade(self, query: Query) -> RestAnswer:
        """The latest ``limit`` trades (spot: 1 to 60, default 60), newest first."""
        symbol = param(query, "symbol")
        if param(query, "category") != "spot":
            return self.error("Illegal category")
        listed = self.market(symbol) if symbol else None
        if listed is None or listed.status != TRADING:
            return self.error("params error: symbol invalid")
        limit = int(param(query, "limit", "60") or 60)
        if not 1 <= limit <= 60:
            return self.error("params error: limit must be in [1, 60] for spot")
        rows = [
            {
                "execId": str(t.trade_id),
                "symbol": listed.symbol,
                "price": t.price,
                "size": t.qty,
                "side": "Buy",
                "time": str(t.ts_ms),
                "isBlockTrade": False,
            }
            for t in reversed(self.history(listed.symbol)[-limit:])
        ]
        return self.answer({"category": "spot", "list": rows})
