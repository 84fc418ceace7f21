"""Binance spot, ``<symbol>@trade`` streams.

Subscribe: ``{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}`` ->
``{"result":null,"id":1}``. The server pings about every 20 s and
websocket-client answers each with a pong carrying the same payload. Every
connection is cut after 24 h, so we reconnect a little before; a
``serverShutdown`` event asks for the same. At most 5 incoming messages a
second per connection: one SUBSCRIBE carries every stream.
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import fields, json_text, load_object
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded

TWENTY_THREE_AND_A_HALF_HOURS = 23.5 * 3600


class BinanceProtocol(ExchangeProtocol):
    kind = "binance"
    default_url = "wss://stream.binance.com:9443/ws"
    max_connection_age = TWENTY_THREE_AND_A_HALF_HOURS
    sequential_ids = True

    def subscribe_messages(self) -> list[str]:
        streams = [f"{symbol.lower()}@trade" for symbol in self.symbols]
        return [json_text({"method": "SUBSCRIBE", "params": streams, "id": 1})]

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        payload = message.get("data", message)
        if isinstance(payload, dict) and payload.get("e") == "trade":
            return None
        if "result" in message and "id" in message:
            return Control("ack", f"id {message['id']}")
        if "error" in message or "code" in message:
            # Either {"code":..,"msg":..} or, answering a request, {"error":{"code":..,"msg":..},"id":..}.
            error = message["error"] if isinstance(message.get("error"), dict) else message
            return Control("error", f"{error.get('code', '')} {error.get('msg') or error.get('error') or ''}".strip())
        if isinstance(payload, dict) and payload.get("e") == "serverShutdown":
            return Control("reconnect", "serverShutdown")
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        message = load_object(raw)
        trade = message.get("data", message)
        if not isinstance(trade, dict) or trade.get("e") != "trade":
            raise InvalidTick("not_a_trade", str(raw[:60]))
        yield fields(trade, "s", "p", "T", "q", "t")
