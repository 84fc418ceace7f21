"""OKX v5: ``/ws/v5/public`` (``trades`` and ``instruments`` channels), ``public/instruments`` and ``history-trades``.

Limits (doc): a request over 64 KB closes the connection (1009); past the
channel cap (not a documented number: ``max_channels_per_connection``) it
closes with 4008; 480 subscribe/unsubscribe requests per connection per hour,
one request however many args (a token bucket; past it error 60014, the
request not acted on); 3 new connections per second per IP; a connection
closes with 4004 after ``idle_timeout`` (30 s) with nothing either way, the
text ``ping`` answered by ``pong`` being what keeps a quiet one open.

Each arg is acknowledged on its own; an unknown or delisted instId gets 60018
in OKX's words (observed) while the other args are subscribed, unless
``refuse_whole_request``. A halted market is ``suspend`` and can still be
subscribed. The ``instruments`` channel pushes listings and halts; how OKX
pushes a delisting is not documented (the instrument "will not be available"),
so none is pushed: a client sees delistings over REST.
"""

import math
import time
from typing import Unpack

from tests.support.exchange_servers import okx_trades
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
    parse_object,
)
from tests.support.wide.limits import TokenBucket
from tests.support.wide.rest import Query, RestAnswer, Route, param

STATE = {TRADING: "live", HALTED: "suspend"}
INSTRUMENTS = "instruments:SPOT"
NO_SUCH = (
    "Wrong URL or {0} doesn't exist. Please use the correct URL, channel and parameters referring to API document."
)


def inst_id(listed: Listed) -> str:
    return f"{listed.base}-{listed.quote}"


class OkxPeer(Peer):
    def __init__(self, ws: Socket, conn_id: str, budget: TokenBucket) -> None:
        super().__init__(ws, conn_id)
        self.budget = budget


class WideOkx(WideExchange):
    kind = "okx"
    ws_path = "/ws/v5/public"
    rate_limited_body = {"code": "50011", "msg": "Too Many Requests", "data": []}
    default_handshake_limit = (3, 1.0)
    # 20 requests per 2 s per IP at each path (doc).
    default_rest_limits = {path: (20, 2.0) for path in ("/api/v5/public/instruments", "/api/v5/market/history-trades")}

    def __init__(
        self,
        *,
        max_channels_per_connection: int = 1000,
        requests_per_hour: int = 480,
        max_request_bytes: int = 64 * 1024,
        idle_timeout: float = 30.0,
        refuse_whole_request: bool = False,
        **limits: Unpack[Limits],
    ) -> None:
        self.max_channels_per_connection = max_channels_per_connection
        self.requests_per_hour = requests_per_hour
        self.max_request_bytes = max_request_bytes
        self.idle_timeout = idle_timeout
        self.refuse_whole_request = refuse_whole_request
        super().__init__(**limits)

    def announce_shutdown(self) -> None:
        """The 64008 notice OKX sends 60 s before closing connections for a service upgrade."""
        for peer in self._open_peers():
            self.send(
                peer,
                {
                    "event": "notice",
                    "code": "64008",
                    "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
                    "connId": peer.conn_id,
                },
            )

    # ---- the stream -----------------------------------------------------------------------------------------

    def new_peer(self, ws: Socket) -> Peer:
        return OkxPeer(ws, self.new_conn_id(), TokenBucket(self.requests_per_hour, 3600.0))

    def trade_topic(self, listed: Listed) -> str:
        return f"trades:{inst_id(listed)}"

    def symbol_of(self, topic: str) -> str | None:
        channel, _, name = topic.partition(":")
        return name.replace("-", "") if channel == "trades" else None

    def trade_message(self, listed: Listed, trade: Trade) -> dict:
        message = parse_object(okx_trades(inst_id(listed), [(trade.price, trade.ts_ms)], [trade.trade_id]))
        assert message is not None
        message["data"][0]["sz"] = trade.qty
        return message

    def on_listing_change(self, listed: Listed) -> None:
        if listed.status == DELISTED:
            return
        push = {"arg": {"channel": "instruments", "instType": "SPOT"}, "data": [self.instrument(listed)]}
        for peer in self._open_peers():
            if INSTRUMENTS in peer.topics:
                self.send(peer, push)

    def on_message(self, peer: Peer, text: str) -> None:
        assert isinstance(peer, OkxPeer)
        if text == "ping":
            self.send(peer, "pong")
            return
        size = len(text.encode())
        if size > self.max_request_bytes:
            self.violate("request_size", f"a {size}-byte request, over {self.max_request_bytes}", peer)
            self.close_peer(peer, 1009, "Request message exceeds the maximum frame length")
            return
        request = parse_object(text)
        echo = {"id": request["id"]} if request and "id" in request else {}
        op = request.get("op") if request else None
        args = request.get("args") if request else None
        if request is None:
            self.error(peer, echo, "60012", f"Invalid request: {text[:60]}", "bad_request")
            return
        if op not in ("subscribe", "unsubscribe"):
            self.error(peer, echo, "60019", f"Invalid op: {op}", "bad_request")
            return
        if not (args and isinstance(args, list) and all(isinstance(a, dict) and "channel" in a for a in args)):
            self.error(peer, echo, "60013", "Invalid args", "bad_request")
            return
        if not peer.budget.take(time.monotonic()):
            self.error(peer, echo, "60014", "Requests too frequent", "request_rate")
            return
        if op == "unsubscribe":
            self.remove_topics(peer, [topic_of(a) for a in args])
            for arg in args:
                self.send(peer, {**echo, "event": "unsubscribe", "arg": arg, "connId": peer.conn_id})
            return
        self.subscribe(peer, args, echo)

    def subscribe(self, peer: Peer, args: list[dict], echo: dict) -> None:
        bad = [arg for arg in args if not self.exists(arg)]
        good = [arg for arg in args if arg not in bad]
        adding = {topic_of(arg) for arg in good} - peer.topics
        if len(peer.topics) + len(adding) > self.max_channels_per_connection:
            self.violate(
                "channels_per_connection",
                f"{len(peer.topics) + len(adding)} channels, over {self.max_channels_per_connection}",
                peer,
            )
            self.close_peer(peer, 4008, "The number of subscribed channels exceeds the maximum limit")
            return
        if bad and self.refuse_whole_request:
            good = []
        for arg in args:
            if arg in good:
                self.add_topics(peer, [topic_of(arg)])
                self.send(peer, {**echo, "event": "subscribe", "arg": arg, "connId": peer.conn_id})
                continue
            described = ",".join(f"{key}:{value}" for key, value in arg.items())
            reason = NO_SUCH.format(described)
            if arg not in bad:
                reason = f"refused with the request: {reason}"
            self.refuse(peer, topic_of(arg), reason)
            if arg in bad:
                self.error(peer, echo, "60018", reason)

    def error(self, peer: Peer, echo: dict, code: str, message: str, rule: str = "") -> None:
        """OKX's error event; ``rule``: the limit or form the request broke, if any."""
        if rule:
            self.violate(rule, f"{code} {message}", peer)
        self.send(peer, {**echo, "event": "error", "code": code, "msg": message, "connId": peer.conn_id})

    def exists(self, arg: dict) -> bool:
        """A ``trades`` channel of a listed instrument (halted too), or the spot ``instruments`` channel."""
        if arg.get("channel") == "instruments":
            return arg.get("instType") == "SPOT"
        if arg.get("channel") != "trades":
            return False
        listed = self.market(str(arg.get("instId", "")).replace("-", ""))
        return listed is not None and listed.status != DELISTED and inst_id(listed) == arg.get("instId")

    def tick(self, peer: Peer, now: float) -> float:
        last = max(peer.last_heard, peer.last_sent)
        if now - last >= self.idle_timeout:
            self.violate("idle", f"nothing either way for {self.idle_timeout:g}s", peer)
            self.close_peer(peer, 4004, f"No data received in {self.idle_timeout:g}s")
            return math.inf
        return last + self.idle_timeout

    # ---- REST -----------------------------------------------------------------------------------------------

    def rest_routes(self) -> dict[str, Route]:
        return {"/api/v5/public/instruments": self.instruments, "/api/v5/market/history-trades": self.history_trades}

    def instrument(self, listed: Listed) -> dict:
        return {
            "instType": "SPOT",
            "instId": inst_id(listed),
            "uly": "",
            "instFamily": "",
            "baseCcy": listed.base,
            "quoteCcy": listed.quote,
            "settleCcy": "",
            "ctVal": "",
            "ctMult": "",
            "ctValCcy": "",
            "listTime": str(listed.listed_at_ms),
            "expTime": "",
            "tickSz": "0.1",
            "lotSz": "0.00000001",
            "minSz": "0.00001",
            "ruleType": "normal",
            "state": STATE[listed.status],
        }

    def instruments(self, query: Query) -> RestAnswer:
        """Every SPOT instrument not delisted (a delisted one "will not be available"); no pagination."""
        kind = param(query, "instType")
        if not kind:
            return 400, {"code": "50014", "msg": "Parameter instType can not be empty.", "data": []}, {}
        named = param(query, "instId")
        rows = [
            self.instrument(m)
            for m in self.markets()
            if kind == "SPOT" and m.status != DELISTED and named in (None, inst_id(m))
        ]
        if named and not rows:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}, {}
        return 200, {"code": "0", "msg": "", "data": rows}, {}

    def history_trades(self, query: Query) -> RestAnswer:
        """Newest first, up to ``limit`` (at most 100); ``type`` 1 pages by trade id, 2 by time (``after``: older)."""
        named = param(query, "instId") or ""
        listed = self.market(named.replace("-", ""))
        if listed is None or inst_id(listed) != named:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}, {}
        limit = min(int(param(query, "limit", "100") or 100), 100)
        by_time = param(query, "type", "1") == "2"
        after, before = param(query, "after"), param(query, "before")

        def key(trade: Trade) -> int:
            return trade.ts_ms if by_time else trade.trade_id

        rows = [
            t
            for t in reversed(self.history(listed.symbol))
            if (after is None or key(t) < int(after)) and (before is None or key(t) > int(before))
        ]
        data = [
            {
                "instId": named,
                "side": "buy",
                "sz": t.qty,
                "px": t.price,
                "source": "0",
                "tradeId": str(t.trade_id),
                "ts": str(t.ts_ms),
            }
            for t in rows[:limit]
        ]
        return 200, {"code": "0", "msg": "", "data": data}, {}


def topic_of(arg: dict) -> str:
    """The topic of one arg as kept in ``Peer.topics``: ``trades:BTC-USDT``, ``instruments:SPOT``."""
    if arg.get("channel") == "instruments":
        return f"instruments:{arg.get('instType', '')}"
    return f"{arg.get('channel')}:{arg.get('instId', '')}"
