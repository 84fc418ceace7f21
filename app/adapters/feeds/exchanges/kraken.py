"""Kraken v2: the ``trade`` channel, ``AssetPairs`` for the listing (no trade history here: what a stream misses
is lost).

Subscribe: ``{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USDT"],"snapshot":false},"req_id":1}``
(unsubscribe alike), answered per symbol by ``{"method":"subscribe","success":true,"result":{"symbol":...},
"req_id":1}``, or ``"success":false`` with ``"error"`` (``Currency pair not supported XYZ/USDT``) and the
``"symbol"``. Limits: how many symbols one request or connection may hold is
not documented; about 150 connection attempts per 10 minutes per IP (quoted
from its WebSocket guide). The server sends ``{"channel":"heartbeat"}`` about
once a second; we also ping (``{"method":"ping"}`` -> ``{"method":"pong"}``).
Trades: ``data[]`` with ``trade_id``, ``symbol``, ``price``, ``qty`` and
``timestamp`` (RFC 3339). A ``snapshot`` of recent history (asked not to be
sent) would repeat old trades, so only ``update`` messages are data.

Listing: ``GET /0/public/AssetPairs`` (one answer): ``result`` maps pair keys
to ``wsname``, ``status`` (``online`` trades) and more. ``wsname`` spells the
pair with Kraken's old asset names (``XBT/USDT``, ``XDG/USD``), while v2
subscribes with ``BTC/USDT``: they are translated (``ASSETS``).
"""

from collections.abc import Iterator, Sequence

from app.adapters.feeds.exchanges.base import SNAPSHOT, Control, ExchangeProtocol, Listed, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.adapters.feeds.exchanges.rest_answers import row_field
from app.adapters.feeds.exchanges.symbol_spelling import SLASHED
from app.adapters.net.rest_client import RestClient, RestError
from app.domain.tick import Decoded, RawTrade

# Kraken's old asset codes that WebSocket v2 and everyone else spell otherwise.
ASSETS = {"XBT": "BTC", "XDG": "DOGE"}


class KrakenProtocol(ExchangeProtocol):
    kind = "kraken"
    default_url = "wss://ws.kraken.com/v2"
    default_ping_interval = 20.0
    ping_payload = '{"method":"ping"}'
    rest_base = "https://api.kraken.com"
    # "1 per second (or less) would remain within the rate limits" for public endpoints.
    rest_interval = 1.0
    max_symbols_per_connection = 200
    max_symbols_per_request = 100
    acks_per_symbol = True
    connect_interval = 4.0
    spelling = SLASHED

    def message(self, symbols: Sequence[str], request_id: str, subscribe: bool) -> str:
        params = {"channel": "trade", "symbol": [self.theirs(symbol) for symbol in symbols], "snapshot": False}
        method = "subscribe" if subscribe else "unsubscribe"
        return json_text({"method": method, "params": params, "req_id": int(request_id)})

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        if message.get("channel") == "trade":
            return None if message.get("type") == "update" else SNAPSHOT
        if message.get("channel") == "heartbeat" or message.get("method") == "pong":
            return Control("pong")
        request_id = None if message.get("req_id") is None else str(message["req_id"])
        if message.get("method") in ("subscribe", "unsubscribe"):
            result = message.get("result")
            pair = result.get("symbol") if isinstance(result, dict) else message.get("symbol")
            symbols = (str(SLASHED.ours(pair)),) if isinstance(pair, str) else ()
            if message.get("success"):
                return Control("ack", request_id=request_id, symbols=symbols)
            return Control("refused", str(message.get("error", "subscribe failed")), request_id, symbols)
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        return data_trades(raw, _trade)

    @classmethod
    def listing(cls, client: RestClient) -> list[Listed]:
        answer = client.get("/0/public/AssetPairs", {})
        errors = answer.get("error") if isinstance(answer, dict) else None
        pairs = answer.get("result") if isinstance(answer, dict) else None
        if errors or not isinstance(pairs, dict):
            raise RestError(f"Kraken {errors or 'answer without result'}"[:200])
        listed = []
        for pair in pairs.values():
            if not isinstance(pair, dict) or "/" not in str(pair.get("wsname", "")):  # no WebSocket market
                continue
            base, quote = (ASSETS.get(asset, asset) for asset in str(pair["wsname"]).split("/", 1))
            listed.append(Listed(base + quote, f"{base}/{quote}", quote, row_field(pair, "status") == "online"))
        return listed


def _trade(trade: object) -> list[RawTrade]:
    return [fields(trade, "symbol", "price", "timestamp", "qty", "trade_id", SLASHED)]
