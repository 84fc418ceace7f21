"""Coinbase Advanced Trade, ``market_trades`` channel (no trade history here: what a stream misses is lost).

Subscribe: ``{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"market_trades"}``,
plus the ``heartbeats`` channel, or quiet channels are closed after 60-90 s.
Acks arrive on the ``subscriptions`` channel; errors as ``{"type":"error","message":...}``.
Trades: ``events[].trades[]`` with ``trade_id``, ``product_id``, ``price``, ``size``, ``time`` (RFC 3339).
The snapshot event sent on subscribe repeats recent history, so only
``update`` events are data: a reconnect must not count old trades again.
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import SNAPSHOT, Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import fields, json_text, load_object, per_trade, trade_list
from app.adapters.feeds.exchanges.symbol_spelling import DASHED
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade


class CoinbaseProtocol(ExchangeProtocol):
    kind = "coinbase"
    default_url = "wss://advanced-trade-ws.coinbase.com"

    def subscribe_messages(self) -> list[str]:
        products = [DASHED.theirs(symbol) for symbol in self.symbols]
        return [
            json_text({"type": "subscribe", "product_ids": products, "channel": channel})
            for channel in ("market_trades", "heartbeats")
        ]

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        channel = message.get("channel")
        if channel == "market_trades":
            events = message.get("events")
            updates = isinstance(events, list) and any(
                isinstance(e, dict) and e.get("type") == "update" for e in events
            )
            return None if updates else SNAPSHOT
        if channel == "subscriptions":
            return Control("ack", "subscriptions")
        if channel == "heartbeats":
            return Control("pong")
        if message.get("type") == "error":
            return Control("error", str(message.get("message", "error")))
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        for event in trade_list(load_object(raw), "events"):
            if not isinstance(event, dict):
                yield InvalidTick("not_an_object", type(event).__name__)
            elif event.get("type") == "update":
                yield from per_trade(trade_list(event, "trades"), _trade)


def _trade(trade: object) -> list[RawTrade]:
    return [fields(trade, "product_id", "price", "time", "size", "trade_id", DASHED)]
