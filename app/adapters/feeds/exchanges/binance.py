"""Binance spot: ``<symbol>@trade`` streams, and ``historicalTrades`` for what a stream missed.

Subscribe: ``{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}`` ->
``{"result":null,"id":1}``. The server pings about every 20 s and
websocket-client answers each with a pong carrying the same payload. Every
connection is cut after 24 h, so we reconnect a little before; a
``serverShutdown`` event asks for the same. At most 5 incoming messages a
second per connection: one SUBSCRIBE carries every stream.

History: ``GET /api/v3/historicalTrades?symbol=&fromId=&limit=`` (up to 1000
a page, weight 5 of the 6,000 a minute per IP) pages forward by trade id, and
ids are sequential per symbol, so it recovers a span exactly and counts what
is gone when the history starts later than the span.
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import fields, json_text, load_object
from app.adapters.feeds.exchanges.rest_history import ExchangeHistory, as_int, row_field, rows_at
from app.domain.errors import InvalidTick
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import Decoded, RawTrade

TWENTY_THREE_AND_A_HALF_HOURS = 23.5 * 3600


class BinanceHistory(ExchangeHistory):
    default_base = "https://api.binance.com"
    # Weight 5 each: 4 a second is 1,200 of the 6,000 a minute, leaving the rest for anything else on the IP.
    min_interval = 0.25
    PAGE = 1000
    # A longer span than 50,000 trades is not worth the weight: the rest is counted as lost.
    MAX_PAGES = 50

    def recover(self, missing: Missing) -> Recovery:
        first, last = int(missing.after.trade_id) + 1, int(missing.before.trade_id) - 1
        trades: list[RawTrade] = []
        lost: TradeGap | None = None
        next_id = first
        for _ in range(self.MAX_PAGES):
            if next_id > last:
                break
            params = {"symbol": missing.symbol, "fromId": next_id, "limit": min(self.PAGE, last - next_id + 1)}
            rows = rows_at(self._client.get("/api/v3/historicalTrades", params))
            page = [row for row in rows if next_id <= as_int(row_field(row, "id")) <= last]
            if not page:
                break
            start = as_int(page[0]["id"])
            if start > next_id and lost is None:  # the exchange's history begins inside the span
                begins = as_int(row_field(page[0], "time"))
                lost = TradeGap(self._exchange, missing.symbol, missing.after.ts_ms, begins, start - next_id)
            trades.extend(
                (missing.symbol, row_field(r, "price"), row_field(r, "time"), row_field(r, "qty"), as_int(r["id"]))
                for r in page
            )
            next_id = as_int(page[-1]["id"]) + 1
        if next_id <= last and lost is None:
            lost_from = as_int(trades[-1][2]) if trades else missing.after.ts_ms
            lost = TradeGap(self._exchange, missing.symbol, lost_from, missing.before.ts_ms, last - next_id + 1)
        return Recovery(trades, lost)


class BinanceProtocol(ExchangeProtocol):
    kind = "binance"
    default_url = "wss://stream.binance.com:9443/ws"
    max_connection_age = TWENTY_THREE_AND_A_HALF_HOURS
    sequential_ids = True
    history = BinanceHistory

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
