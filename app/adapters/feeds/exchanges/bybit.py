"""Bybit v5 spot, ``publicTrade.<SYMBOL>`` topics.

Subscribe: ``{"req_id":"1","op":"subscribe","args":[...]}`` with at most 10
args per request (spot), each answered by ``{"success":true,"op":"subscribe"}``.
The client sends ``{"op":"ping"}`` about every 20 s; the reply carries
``"ret_msg":"pong"`` or ``"op":"pong"``. One message can carry several trades.
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.domain.tick import Decoded

MAX_ARGS_PER_SUBSCRIBE = 10


class BybitProtocol(ExchangeProtocol):
    kind = "bybit"
    default_url = "wss://stream.bybit.com/v5/public/spot"
    default_ping_interval = 20.0
    ping_payload = '{"op":"ping"}'

    def subscribe_messages(self) -> list[str]:
        topics = [f"publicTrade.{symbol}" for symbol in self.symbols]
        return [
            json_text({"req_id": str(n + 1), "op": "subscribe", "args": topics[i : i + MAX_ARGS_PER_SUBSCRIBE]})
            for n, i in enumerate(range(0, len(topics), MAX_ARGS_PER_SUBSCRIBE))
        ]

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        if str(message.get("topic", "")).startswith("publicTrade."):
            return None
        if message.get("op") == "pong" or message.get("ret_msg") == "pong":
            return Control("pong")
        if message.get("op") == "subscribe":
            if message.get("success"):
                return Control("ack", f"req_id {message.get('req_id')}")
            return Control("error", str(message.get("ret_msg") or "subscribe failed"))
        if message.get("success") is False:
            return Control("error", str(message.get("ret_msg")))
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        return data_trades(raw, lambda trade: [fields(trade, "s", "p", "T", "v", "i")])
