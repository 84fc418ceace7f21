"""Kraken spot, WebSocket v2 (``/v2``, ``trade`` channel) and REST ``/0/public/AssetPairs``.

The two spellings differ, as on Kraken: WS v2 takes ``BTC/USDT`` and refuses
``XBT/USDT`` ("Currency pair not supported"), while AssetPairs keys, names and
assets use Kraken's old codes (``XBT``/``XXBT``, ``XDG``/``XXDG``, ``ZUSD``,
``XXBTZUSD`` for the oldest pairs, ``wsname`` ``XBT/USDT``). Every symbol of a
subscribe or unsubscribe is acknowledged (or refused) on its own; a subscribe
with ``snapshot`` (the default) is followed by the symbol's latest trades as
a ``snapshot``; ``{"channel":"heartbeat"}`` comes every ``heartbeat_interval``
in which nothing else was sent, once the socket has a subscription.

Limits: about 150 connection attempts per 10 min per IP (doc as quoted).
Kraken publishes no message rate, no cap on symbols per connection and no
REST figure but "1 per second (or less)" advice, so none is enforced. A halted
pair is ``cancel_only`` and can be subscribed; a delisted one drops out.
"""

import math
from typing import Unpack

from app.domain.iso_instant import iso_ms
from tests.support.exchange_servers import kraken_trades
from tests.support.wide.base import DELISTED, HALTED, Limits, Listed, Peer, Trade, WideExchange, now_ms, parse_object
from tests.support.wide.rest import Query, RestAnswer, Route, param

# Kraken's REST asset codes: (asset id, its short name in pair names). Others are spelled as we do.
ASSETS = {
    "BTC": ("XXBT", "XBT"),
    "DOGE": ("XXDG", "XDG"),
    "ETH": ("XETH", "ETH"),
    "LTC": ("XLTC", "LTC"),
    "XRP": ("XXRP", "XRP"),
    "USD": ("ZUSD", "USD"),
    "EUR": ("ZEUR", "EUR"),
}
# The oldest pairs are keyed by their two asset ids (XXBTZUSD); the others by their altname (XBTUSDT).
CLASSIC_BASES, CLASSIC_QUOTES = {"BTC", "ETH", "LTC", "XRP"}, {"USD", "EUR"}


def v2_symbol(listed: Listed) -> str:
    return f"{listed.base}/{listed.quote}"


def asset(code: str) -> tuple[str, str]:
    return ASSETS.get(code, (code, code))


def pair_key(listed: Listed) -> str:
    if listed.base in CLASSIC_BASES and listed.quote in CLASSIC_QUOTES:
        return asset(listed.base)[0] + asset(listed.quote)[0]
    return asset(listed.base)[1] + asset(listed.quote)[1]


class WideKraken(WideExchange):
    kind = "kraken"
    ws_path = "/v2"
    rate_limited_body = {"error": ["EAPI:Rate limit exceeded"]}
    # No REST limit: Kraken publishes none, only advice.
    default_handshake_limit = (150, 600.0)

    def __init__(
        self,
        *,
        heartbeat_interval: float = 1.0,
        snapshot_depth: int = 50,
        **limits: Unpack[Limits],
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.snapshot_depth = snapshot_depth
        super().__init__(**limits)

    # ---- the stream -----------------------------------------------------------------------------------------

    def trade_topic(self, listed: Listed) -> str:
        return f"trade:{v2_symbol(listed)}"

    def symbol_of(self, topic: str) -> str | None:
        channel, _, pair = topic.partition(":")
        return pair.replace("/", "") if channel == "trade" else None

    def trade_message(self, listed: Listed, trade: Trade) -> dict:
        return {"channel": "trade", "type": "update", "data": [trade_row(listed, trade)]}

    def on_message(self, peer: Peer, text: str) -> None:
        request = parse_object(text)
        method = request.get("method") if request else None
        echo = {"req_id": request["req_id"]} if request and "req_id" in request else {}
        times = {"time_in": iso_ms(now_ms()), "time_out": iso_ms(now_ms())}
        if method == "ping":
            self.send(peer, {"method": "pong", **echo, **times})
            return
        params = request.get("params") if request else None
        symbols = params.get("symbol") if isinstance(params, dict) else None
        if method not in ("subscribe", "unsubscribe") or not (
            isinstance(symbols, list) and symbols and all(isinstance(s, str) for s in symbols)
        ):
            self.violate("bad_request", f"not a ping, or a subscribe with a list of symbols: {text[:60]}", peer)
            self.send(peer, {"error": "Malformed request", "method": "error", "success": False, **echo, **times})
            return
        assert isinstance(params, dict)
        if params.get("channel") != "trade":
            self.violate("bad_request", f"channel {params.get('channel')!r}: only trade here", peer)
            self.send(peer, {"error": "Channel not supported", "method": method, "success": False, **echo, **times})
            return
        snapshot = params.get("snapshot", True) is not False
        for symbol in symbols:
            error = self.apply(peer, method, symbol)
            topic = f"trade:{symbol}"
            if error:
                self.refuse(peer, topic, error)
                reply = {"error": error, "method": method, "success": False, "symbol": symbol}
            else:
                result = {"channel": "trade", "symbol": symbol}
                if method == "subscribe":
                    result["snapshot"] = snapshot
                reply = {"method": method, "result": result, "success": True}
            self.send(peer, {**reply, **echo, **times})
            if method == "subscribe" and snapshot and not error:
                self.send_snapshot(peer, symbol)

    def apply(self, peer: Peer, method: str, symbol: str) -> str:
        """Subscribe or unsubscribe one symbol; Kraken's error for it, or "" when done."""
        topic = f"trade:{symbol}"
        if method == "unsubscribe":
            if topic not in peer.topics:
                return "Subscription Not Found"
            self.remove_topics(peer, [topic])
            return ""
        if self.pair(symbol) is None:
            return f"Currency pair not supported {symbol}"
        if topic in peer.topics:
            return "Already subscribed"
        self.add_topics(peer, [topic])
        return ""

    def send_snapshot(self, peer: Peer, symbol: str) -> None:
        listed = self.pair(symbol)
        assert listed is not None
        rows = [trade_row(listed, t) for t in self.recent_trades(listed.symbol, self.snapshot_depth)]
        self.send(peer, {"channel": "trade", "type": "snapshot", "data": rows})

    def pair(self, symbol: str) -> Listed | None:
        """The listed, not delisted, pair spelled ``symbol`` in v2 (``BTC/USDT``, never ``XBT/USDT``)."""
        listed = self.market(symbol.replace("/", ""))
        if listed is None or listed.status == DELISTED or v2_symbol(listed) != symbol:
            return None
        return listed

    def tick(self, peer: Peer, now: float) -> float:
        if not peer.topics:
            return math.inf
        if now - peer.last_sent >= self.heartbeat_interval:
            self.send(peer, {"channel": "heartbeat"})
        return peer.last_sent + self.heartbeat_interval

    # ---- REST -----------------------------------------------------------------------------------------------

    def rest_routes(self) -> dict[str, Route]:
        return {"/0/public/AssetPairs": self.asset_pairs}

    def asset_pairs(self, query: Query) -> RestAnswer:
        """Every pair not delisted, by Kraken's pair name; ``pair`` narrows to a comma list of names or altnames."""
        pairs = {pair_key(m): m for m in self.markets() if m.status != DELISTED}
        named = param(query, "pair")
        if named:
            wanted = named.split(",")
            altnames = {asset(m.base)[1] + asset(m.quote)[1]: key for key, m in pairs.items()}
            keys = [altnames.get(name, name) for name in wanted]
            if any(key not in pairs for key in keys):
                return 200, {"error": ["EQuery:Unknown asset pair"]}, {}
            pairs = {key: pairs[key] for key in keys}
        return 200, {"error": [], "result": {key: describe(m) for key, m in pairs.items()}}, {}


def describe(listed: Listed) -> dict:
    base_id, base_name = asset(listed.base)
    quote_id, quote_name = asset(listed.quote)
    return {
        "altname": base_name + quote_name,
        "wsname": f"{base_name}/{quote_name}",
        "aclass_base": "currency",
        "base": base_id,
        "aclass_quote": "currency",
        "quote": quote_id,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": 1,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "ordermin": "0.00005",
        "costmin": "0.5",
        "tick_size": "0.1",
        "status": "cancel_only" if listed.status == HALTED else "online",
    }


def trade_row(listed: Listed, trade: Trade) -> dict:
    """One trade as ``kraken_trades`` writes it, with this trade's id and quantity."""
    message = parse_object(kraken_trades(v2_symbol(listed), [(trade.price, trade.ts_ms)]))
    assert message is not None
    row = message["data"][0]
    row["trade_id"], row["qty"] = trade.trade_id, float(trade.qty)
    return row
