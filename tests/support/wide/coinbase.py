"""Coinbase Advanced Trade: ``market_trades`` and ``heartbeats`` over WebSocket, ``market/products`` over REST.

Limits (doc): one channel per subscribe message; a connection that sends no
subscribe within 5 s is closed; at most 8 messages a second per IP (past it
the message is answered with an error and not acted on: what Coinbase does is
not documented); 8 new connections a second per IP; channels go quiet after
60-90 s without updates unless the socket is subscribed to ``heartbeats``
(here the ``market_trades`` subscriptions of such a socket end silently after
``quiet_timeout``).

One unknown product sinks the whole subscribe (``Failed to subscribe``,
``XYZ-USD is not a valid product``, observed on the Exchange feed). A delisted
or halted product is still a product: its subscribe succeeds and stays
silent. Every ``subscriptions`` ack lists all the socket's subscriptions;
every channel message carries the socket's own ``sequence_num``.
"""

import base64
import math
import time
from collections import defaultdict
from typing import Unpack

from app.domain.iso_instant import iso_ms
from tests.support.exchange_servers import coinbase_trades
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

TRADES, HEARTBEATS = "market_trades", "heartbeats"
PRODUCTS = "/api/v3/brokerage/market/products"


def product_id(listed: Listed) -> str:
    return f"{listed.base}-{listed.quote}"


class CoinbasePeer(Peer):
    def __init__(self, ws: Socket, conn_id: str) -> None:
        super().__init__(ws, conn_id)
        self.sequence = 0
        self.subscribed_once = False
        self.heartbeats = 0
        self.next_heartbeat = math.inf


class WideCoinbase(WideExchange):
    kind = "coinbase"
    ws_path = "/"
    rate_limited_body = {"error": "RATE_LIMIT_EXCEEDED", "message": "Too many requests"}
    default_handshake_limit = (8, 1.0)
    # 10 requests a second (a third-party figure: none is documented).
    default_rest_limits = {PRODUCTS: (10, 1.0)}

    def __init__(
        self,
        *,
        subscribe_timeout: float = 5.0,
        max_messages_per_second: int = 8,
        quiet_timeout: float = 60.0,
        heartbeat_interval: float = 1.0,
        snapshot_depth: int = 50,
        default_page_size: int | None = None,
        **limits: Unpack[Limits],
    ) -> None:
        """``default_page_size``: products per page when the client names no ``limit`` (None: all of them, as
        observed)."""
        self.subscribe_timeout = subscribe_timeout
        self.max_messages_per_second = max_messages_per_second
        self.quiet_timeout = quiet_timeout
        self.heartbeat_interval = heartbeat_interval
        self.snapshot_depth = snapshot_depth
        self.default_page_size = default_page_size
        self._message_windows: defaultdict[str, SlidingWindow] = defaultdict(
            lambda: SlidingWindow(max_messages_per_second, 1.0)
        )
        super().__init__(**limits)

    # ---- the stream -----------------------------------------------------------------------------------------

    def new_peer(self, ws: Socket) -> Peer:
        return CoinbasePeer(ws, self.new_conn_id())

    def encode(self, peer: Peer, message: str | dict) -> str:
        """Channel messages carry the socket's own ``sequence_num``, one more each."""
        assert isinstance(peer, CoinbasePeer)
        if isinstance(message, dict) and "channel" in message:
            peer.sequence += 1
            message = {**message, "sequence_num": peer.sequence}
        return super().encode(peer, message)

    def trade_topic(self, listed: Listed) -> str:
        return f"{TRADES}:{product_id(listed)}"

    def symbol_of(self, topic: str) -> str | None:
        channel, _, product = topic.partition(":")
        return product.replace("-", "") if channel == TRADES else None

    def trade_message(self, listed: Listed, trade: Trade) -> dict:
        return {**envelope(), **trade_update(product_id(listed), trade)}

    def on_message(self, peer: Peer, text: str) -> None:
        assert isinstance(peer, CoinbasePeer)
        if not self.hit(self._message_windows[peer.ip], time.monotonic()):
            self.violate("message_rate", f"{peer.ip}: over {self.max_messages_per_second} messages in a second", peer)
            self.send(peer, {"type": "error", "message": "rate limit exceeded"})
            return
        request = parse_object(text)
        kind = request.get("type") if request else None
        channel = request.get("channel") if request else None
        if request is None or kind not in ("subscribe", "unsubscribe"):
            self.fail(peer, "bad_request", f"not a subscribe or unsubscribe: {text[:60]}", "Failed to subscribe")
            return
        if "channels" in request or not isinstance(channel, str):
            self.fail(peer, "channels_per_message", "a subscribe must name exactly one channel", "Failed to subscribe")
            return
        if channel not in (TRADES, HEARTBEATS):
            self.fail(peer, "bad_request", f"{channel}: only market_trades and heartbeats here", "Failed to subscribe")
            return
        products = request.get("product_ids", [])
        if channel == HEARTBEATS:
            topics = [HEARTBEATS]
        elif isinstance(products, list) and products and all(isinstance(p, str) for p in products):
            topics = [f"{TRADES}:{p}" for p in products]
        else:
            self.fail(peer, "bad_request", "market_trades needs a list of product_ids", "Failed to subscribe")
            return
        if kind == "unsubscribe":
            self.remove_topics(peer, topics)
            self.send(peer, self.subscriptions(peer))
            return
        invalid = [p for p in products if channel == TRADES and self.product(p) is None]
        if invalid:
            reason = f"{invalid[0]} is not a valid product"
            for topic in topics:
                self.refuse(peer, topic, reason)
            self.send(peer, {"type": "error", "message": "Failed to subscribe", "reason": reason})
            return
        self.subscribe(peer, channel, topics, products)

    def subscribe(self, peer: CoinbasePeer, channel: str, topics: list[str], products: list[str]) -> None:
        now = time.monotonic()
        peer.subscribed_once = True
        self.add_topics(peer, topics)
        self.send(peer, self.subscriptions(peer))
        if channel == HEARTBEATS:
            peer.next_heartbeat = min(peer.next_heartbeat, now + self.heartbeat_interval)
            return
        peer.last_data = now  # a channel's quiet time counts from its subscribe
        recent = [
            trade_update(p, t)["events"][0]["trades"][0]
            for p in products
            if (listed := self.product(p))
            for t in self.recent_trades(listed.symbol, self.snapshot_depth)
        ]
        self.send(peer, {**envelope(), "channel": TRADES, "events": [{"type": "snapshot", "trades": recent}]})

    def subscriptions(self, peer: Peer) -> dict:
        """The ack: every subscription the socket has now, by channel."""
        by_channel: dict[str, list[str]] = {}
        for topic in sorted(peer.topics):
            channel, _, product = topic.partition(":")
            by_channel.setdefault(channel, []).append(product or channel)
        return {**envelope(), "channel": "subscriptions", "events": [{"subscriptions": by_channel}]}

    def fail(self, peer: Peer, rule: str, detail: str, message: str) -> None:
        self.violate(rule, detail, peer)
        self.send(peer, {"type": "error", "message": message, "reason": detail})

    def product(self, name: str) -> Listed | None:
        listed = self.market(name.replace("-", ""))
        return listed if listed is not None and product_id(listed) == name else None

    def tick(self, peer: Peer, now: float) -> float:
        """Close a socket with no subscribe in time, send heartbeats, end quiet channels of a socket without them."""
        assert isinstance(peer, CoinbasePeer)
        due = math.inf
        if not peer.subscribed_once:
            if now - peer.opened >= self.subscribe_timeout:
                self.violate("no_subscribe", f"no subscribe within {self.subscribe_timeout:g}s", peer)
                self.close_peer(peer, 1008, "subscribe timeout")
                return math.inf
            due = peer.opened + self.subscribe_timeout
        if HEARTBEATS in peer.topics:
            if now >= peer.next_heartbeat:
                peer.heartbeats += 1
                event = {"current_time": iso_ms(now_ms()), "heartbeat_counter": peer.heartbeats}
                self.send(peer, {**envelope(), "channel": HEARTBEATS, "events": [event]})
                peer.next_heartbeat = now + self.heartbeat_interval
            due = min(due, peer.next_heartbeat)
        trades = [topic for topic in peer.topics if topic.startswith(f"{TRADES}:")]
        if trades and HEARTBEATS not in peer.topics:
            if now - peer.last_data >= self.quiet_timeout:
                self.violate("quiet_without_heartbeats", f"{len(trades)} quiet channels closed", peer)
                self.remove_topics(peer, trades)
            else:
                due = min(due, peer.last_data + self.quiet_timeout)
        return due

    # ---- REST -----------------------------------------------------------------------------------------------

    def rest_routes(self) -> dict[str, Route]:
        return {PRODUCTS: self.products}

    def products(self, query: Query) -> RestAnswer:
        """Pages by ``limit`` with ``offset`` or ``cursor`` (base64 of the last product of the page before)."""
        markets = self.markets()
        if param(query, "product_type", "SPOT") not in ("SPOT", "UNKNOWN_PRODUCT_TYPE"):
            markets = []
        wanted = query.get("product_ids")
        if wanted:
            markets = [m for m in markets if product_id(m) in wanted]
        start = int(param(query, "offset", "0") or 0)
        cursor = param(query, "cursor")
        if cursor:
            last = base64.b64decode(cursor).decode()
            ids = [product_id(m) for m in markets]
            if last not in ids:
                return 400, {"error": "INVALID_ARGUMENT", "message": "invalid cursor"}, {}
            start = ids.index(last) + 1
        limit = param(query, "limit")
        size = int(limit) if limit else self.default_page_size or len(markets)
        page = markets[start : start + size]
        has_next = start + len(page) < len(markets)
        pagination = {
            "prev_cursor": "",
            "next_cursor": base64.b64encode(product_id(page[-1]).encode()).decode() if has_next and page else "",
            "has_next": has_next,
            "has_prev": start > 0,
        }
        body = {"products": [self.describe(m) for m in page], "num_products": len(page), "pagination": pagination}
        return 200, body, {}

    def describe(self, listed: Listed) -> dict:
        """Trading: ``online``; halted: ``online`` but ``trading_disabled``; delisted: ``delisted`` and disabled."""
        return {
            "product_id": product_id(listed),
            "price": "",
            "base_increment": "0.00000001",
            "quote_increment": "0.01",
            "base_name": listed.base,
            "quote_name": listed.quote,
            "is_disabled": listed.status == DELISTED,
            "new": False,
            "status": "delisted" if listed.status == DELISTED else "online",
            "cancel_only": listed.status == HALTED,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": listed.status != TRADING,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": listed.quote,
            "base_currency_id": listed.base,
            "base_display_symbol": listed.base,
            "quote_display_symbol": listed.quote,
            "view_only": False,
            "alias": "",
            "alias_to": [],
        }


def trade_update(product: str, trade: Trade) -> dict:
    """The ``update`` message of one trade as ``coinbase_trades`` writes it, with this trade's id and size."""
    message = parse_object(coinbase_trades(product, [(trade.price, trade.ts_ms)]))
    assert message is not None
    row = message["events"][0]["trades"][0]
    row["trade_id"], row["size"] = str(trade.trade_id), trade.qty
    return message


def envelope() -> dict:
    """The fields every Advanced Trade channel message starts with (``sequence_num`` is added per socket)."""
    return {"channel": "", "client_id": "", "timestamp": iso_ms(now_ms())}
