"""Kraken v2, ``trade`` channel (no trade history here: what a stream misses is lost).

Subscribe: ``{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USDT"]}}``,
answered by ``{"method":"subscribe","success":true,...}`` per symbol (errors
carry ``"success":false`` and ``"error"``). The server sends
``{"channel":"heartbeat"}`` about once a second; we also ping
(``{"method":"ping"}`` -> ``{"method":"pong"}``). Trades: ``data[]`` with
``trade_id``, ``symbol``, ``price``, ``qty`` and ``timestamp`` (RFC 3339). The ``snapshot`` sent on
subscribe repeats recent history, so only ``update`` messages are data.
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import SNAPSHOT, Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.adapters.feeds.exchanges.symbol_spelling import SLASHED
from app.domain.tick import Decoded, RawTrade


class KrakenProtocol(ExchangeProtocol):
    kind = "kraken"
    default_url = "wss://ws.kraken.com/v2"
    default_ping_interval = 20.0
    ping_payload = '{"method":"ping"}'

    def subscribe_messages(self) -> list[str]:
        pairs = [SLASHED.theirs(symbol) for symbol in self.symbols]
        return [json_text({"method": "subscribe", "params": {"channel": "trade", "symbol": pairs}})]

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        if message.get("channel") == "trade":
            return None if message.get("type") == "update" else SNAPSHOT
        if message.get("channel") == "heartbeat" or message.get("method") == "pong":
            return Control("pong")
        if message.get("method") == "subscribe":
            if message.get("success"):
                return Control("ack", "subscribe")
            return Control("error", str(message.get("error", "subscribe failed")))
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        return data_trades(raw, _trade)


def _trade(trade: object) -> list[RawTrade]:
    return [fields(trade, "symbol", "price", "timestamp", "qty", "trade_id", SLASHED)]
