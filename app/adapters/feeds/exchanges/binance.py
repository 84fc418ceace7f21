"""Binance spot: ``<symbol>@trade`` streams, ``exchangeInfo`` for the listing, ``historicalTrades`` for what a
stream missed.

Subscribe: ``{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}`` ->
``{"result":null,"id":1}`` (UNSUBSCRIBE alike); an error answers with
``{"error":{"code":..,"msg":..},"id":1}``. An unknown or delisted stream is
acknowledged all the same and stays silent: only per-symbol silence shows it.
Limits: at most 1,024 streams per connection, at most 5 incoming messages a
second per connection counting pings, pongs and our requests (so requests go
half a second apart), a request over about 4 KB goes unanswered (observed),
300 connection attempts per 5 minutes per IP. The server pings about every
20 s and websocket-client answers each with a pong carrying the same payload.
Every connection is cut after 24 h, so we reconnect a little before; a
``serverShutdown`` event asks for the same.

Listing: ``GET /api/v3/exchangeInfo?symbolStatus=TRADING`` (weight 20; one
answer, no paging): ``symbols[]`` with ``symbol``, ``status``, ``quoteAsset``.
A delisted pair stays listed as ``BREAK`` (observed), which the filter drops.

History: ``GET /api/v3/historicalTrades?symbol=&fromId=&limit=`` (up to 1000
a page, weight 5 of the 6,000 a minute per IP) pages forward by trade id, and
ids are sequential per symbol, so it recovers a span exactly and counts what
is gone when the history starts later than the span.
"""

from collections.abc import Iterator, Sequence

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, Listed, unrecognised
from app.adapters.feeds.exchanges.json_messages import fields, json_text, load_object
from app.adapters.feeds.exchanges.rest_answers import as_int, row_field, rows_at
from app.adapters.feeds.exchanges.rest_history import ExchangeHistory, Pages
from app.adapters.net.rest_client import RestClient
from app.domain.errors import InvalidTick
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import Decoded, RawTrade
from app.domain.time_grid import SECONDS_PER_HOUR

TWENTY_THREE_AND_A_HALF_HOURS = 23.5 * SECONDS_PER_HOUR


class BinanceHistory(ExchangeHistory):
    PAGE = 1000
    # A longer span than 50,000 trades is not worth the weight: the rest is counted as lost.
    MAX_PAGES = 50

    def recover(self, missing: Missing) -> Recovery:
        first, last = int(missing.after.trade_id) + 1, int(missing.before.trade_id) - 1
        symbol = self._names.theirs(missing.symbol)

        def fetch(next_id: int) -> list[dict]:
            """The span's trades from ``next_id`` on (none, without asking, once past its end)."""
            if next_id > last:
                return []
            params = {"symbol": symbol, "fromId": next_id, "limit": min(self.PAGE, last - next_id + 1)}
            rows = rows_at(self._client.get("/api/v3/historicalTrades", params))
            return [row for row in rows if next_id <= as_int(row_field(row, "id")) <= last]

        trades: list[RawTrade] = []
        lost: TradeGap | None = None
        span = Pages(fetch, first, lambda page: as_int(page[-1]["id"]) + 1, self.MAX_PAGES)
        for page in span:
            start = as_int(page[0]["id"])
            if start > span.cursor and lost is None:  # the exchange's history begins inside the span
                begins = as_int(row_field(page[0], "time"))
                lost = TradeGap(self._exchange, missing.symbol, missing.after.ts_ms, begins, start - span.cursor)
            trades.extend(
                (missing.symbol, row_field(r, "price"), row_field(r, "time"), row_field(r, "qty"), as_int(r["id"]))
                for r in page
            )
        if span.cursor <= last and lost is None:
            lost_from = as_int(trades[-1][2]) if trades else missing.after.ts_ms
            lost = TradeGap(self._exchange, missing.symbol, lost_from, missing.before.ts_ms, last - span.cursor + 1)
        return Recovery(trades, lost)


class BinanceProtocol(ExchangeProtocol):
    kind = "binance"
    default_url = "wss://stream.binance.com:9443/ws"
    max_connection_age = TWENTY_THREE_AND_A_HALF_HOURS
    sequential_ids = True
    history = BinanceHistory
    rest_base = "https://api.binance.com"
    # Weight 5 a history page: 4 a second is 1,200 of the 6,000 a minute, leaving the rest for anything else.
    rest_interval = 0.25
    max_symbols_per_connection = 1024
    max_symbols_per_request = 200
    max_request_bytes = 4000
    request_interval = 0.5
    connect_interval = 1.0

    def message(self, symbols: Sequence[str], request_id: str, subscribe: bool) -> str:
        method = "SUBSCRIBE" if subscribe else "UNSUBSCRIBE"
        streams = [f"{self.theirs(symbol).lower()}@trade" for symbol in symbols]
        return json_text({"method": method, "params": streams, "id": int(request_id)})

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        payload = message.get("data", message)
        if isinstance(payload, dict) and payload.get("e") == "trade":
            return None
        request_id = None if message.get("id") is None else str(message["id"])
        if "result" in message and request_id is not None:
            return Control("ack", request_id=request_id)
        if "error" in message or "code" in message:
            # Either {"code":..,"msg":..} or, answering a request, {"error":{"code":..,"msg":..},"id":..}.
            error = message["error"] if isinstance(message.get("error"), dict) else message
            words = f"{error.get('code', '')} {error.get('msg') or error.get('error') or ''}".strip()
            return Control("error" if request_id is None else "refused", words, request_id)
        if isinstance(payload, dict) and payload.get("e") == "serverShutdown":
            return Control("reconnect", "serverShutdown")
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        message = load_object(raw)
        trade = message.get("data", message)
        if not isinstance(trade, dict) or trade.get("e") != "trade":
            raise InvalidTick("not_a_trade", str(raw[:60]))
        yield fields(trade, "s", "p", "T", "q", "t")

    @classmethod
    def listing(cls, client: RestClient) -> list[Listed]:
        answer = client.get("/api/v3/exchangeInfo", {"symbolStatus": "TRADING", "showPermissionSets": "false"})
        return [
            Listed(
                str(row_field(row, "symbol")),
                str(row_field(row, "symbol")),
                str(row_field(row, "quoteAsset")),
                row_field(row, "status") == "TRADING" and row.get("isSpotTradingAllowed", True) is not False,
            )
            for row in rows_at(answer, "symbols")
        ]
