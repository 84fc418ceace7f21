"""OKX v5 public ``trades`` channel.

Subscribe: ``{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}``,
acknowledged per channel with ``{"event":"subscribe",...}``; errors come as
``{"event":"error","code":...,"msg":...}``. The server drops a connection
silent for 30 s, so the client sends the text ``ping`` well before and
expects the text ``pong``. Numbers and timestamps are strings; symbols are
spelled ``BTC-USDT``.
"""

from collections.abc import Iterator

import orjson

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, Trade, fields, load_object, trade_list

QUOTES = ("USDT", "USDC", "USD", "EUR", "BTC", "ETH")


def to_inst_id(symbol: str) -> str:
    """BTCUSDT -> BTC-USDT, splitting off the longest known quote currency."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[: -len(quote)]}-{quote}"
    return symbol


class OkxProtocol(ExchangeProtocol):
    kind = "okx"
    default_url = "wss://ws.okx.com:8443/ws/v5/public"
    default_ping_interval = 20.0
    ping_payload = "ping"

    def subscribe_messages(self) -> list[str]:
        args = [{"channel": "trades", "instId": to_inst_id(symbol)} for symbol in self.symbols]
        return [orjson.dumps({"op": "subscribe", "args": args}).decode()]

    def control(self, raw: str) -> Control | None:
        if raw == "pong":
            return Control("pong")
        message = load_object(raw)
        if "data" in message and isinstance(message.get("arg"), dict):
            return None
        event = message.get("event")
        if event == "subscribe":
            arg = message.get("arg")
            return Control("ack", str(arg.get("instId", "")) if isinstance(arg, dict) else "")
        if event == "error":
            return Control("error", f"{message.get('code', '')} {message.get('msg', '')}".strip())
        if event == "notice":
            return Control("reconnect", str(message.get("msg", "notice")))
        return Control("ignore", raw[:80])

    def decode(self, raw: bytes | str) -> Iterator[Trade]:
        for trade in trade_list(load_object(raw)):
            symbol, price, ts = fields(trade, "instId", "px", "ts")
            yield (symbol.replace("-", "") if isinstance(symbol, str) else symbol), price, ts
