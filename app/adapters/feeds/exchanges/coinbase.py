"""Coinbase Advanced Trade, ``market_trades`` channel.

Subscribe: ``{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"market_trades"}``,
plus the ``heartbeats`` channel, or quiet channels are closed after 60-90 s.
Acks arrive on the ``subscriptions`` channel; errors as ``{"type":"error","message":...}``.
Trades: ``events[].trades[]`` with ``trade_id``, ``product_id``, ``price``, ``size``, ``time`` (RFC 3339).
The snapshot event sent on subscribe repeats recent history, so only
``update`` events are data: a reconnect must not count old trades again.
"""

from collections.abc import Iterator

import orjson

from app.adapters.feeds.exchanges.base import (
    Control,
    ExchangeProtocol,
    fields,
    load_object,
    per_trade,
    trade_list,
)
from app.adapters.feeds.exchanges.okx import to_inst_id
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade


class CoinbaseProtocol(ExchangeProtocol):
    kind = "coinbase"
    default_url = "wss://advanced-trade-ws.coinbase.com"

    def subscribe_messages(self) -> list[str]:
        products = [to_inst_id(symbol) for symbol in self.symbols]
        return [
            orjson.dumps({"type": "subscribe", "product_ids": products, "channel": channel}).decode()
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
            return None if updates else Control("ignore", "snapshot of past trades")
        if channel == "subscriptions":
            return Control("ack", "subscriptions")
        if channel == "heartbeats":
            return Control("pong")
        if message.get("type") == "error":
            return Control("error", str(message.get("message", "error")))
        return Control("ignore", raw[:80])

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        for event in trade_list(load_object(raw), "events"):
            if not isinstance(event, dict):
                yield InvalidTick("not_an_object", type(event).__name__)
            elif event.get("type") == "update":
                yield from per_trade(trade_list(event, "trades"), _trade)


def _trade(trade: object) -> list[RawTrade]:
    symbol, price, ts, size, trade_id = fields(trade, "product_id", "price", "time", "size", "trade_id")
    return [((symbol.replace("-", "") if isinstance(symbol, str) else symbol), price, ts, size, trade_id)]
