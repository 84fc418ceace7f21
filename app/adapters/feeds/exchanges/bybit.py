"""Bybit v5 spot: ``publicTrade.<SYMBOL>`` topics, and ``recent-trade`` for what a stream missed.

Subscribe: ``{"req_id":"1","op":"subscribe","args":[...]}`` with at most 10
args per request (spot), each answered by ``{"success":true,"op":"subscribe"}``.
The client sends ``{"op":"ping"}`` about every 20 s; the reply carries
``"ret_msg":"pong"`` or ``"op":"pong"``. One message can carry several trades.

History: ``GET /v5/market/recent-trade?category=spot&symbol=&limit=`` (spot:
at most the last 60 trades, newest first): whatever of the span is older
than its oldest trade is lost, with no count (Bybit's ids don't tell).
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.adapters.feeds.exchanges.rest_history import ExchangeHistory, as_int, row_field, rows_at
from app.adapters.net.rest_client import RestError
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import Decoded, RawTrade

MAX_ARGS_PER_SUBSCRIBE = 10


class BybitHistory(ExchangeHistory):
    default_base = "https://api.bybit.com"
    # 600 requests per 5 s per IP; a few a second is plenty.
    min_interval = 0.1
    LIMIT = 60  # spot's maximum

    def recover(self, missing: Missing) -> Recovery:
        params = {"category": "spot", "symbol": missing.symbol, "limit": self.LIMIT}
        answer = self._client.get("/v5/market/recent-trade", params)
        if isinstance(answer, dict) and answer.get("retCode") not in (0, None):
            raise RestError(f"Bybit {answer.get('retCode')} {answer.get('retMsg', '')}".strip())
        rows = rows_at(answer, "result", "list")
        after, before = missing.after.ts_ms, missing.before.ts_ms
        times = [as_int(row_field(row, "time")) for row in rows]
        trades: list[RawTrade] = [
            (missing.symbol, row_field(row, "price"), ts, row_field(row, "size"), row_field(row, "execId"))
            for row, ts in sorted(zip(rows, times, strict=True), key=lambda pair: pair[1])
            if after <= ts <= before
        ]
        reached = len(rows) < self.LIMIT or (times and min(times) <= after)
        lost = None if reached else TradeGap(self._exchange, missing.symbol, after, min(times), None)
        return Recovery(trades, lost)


class BybitProtocol(ExchangeProtocol):
    kind = "bybit"
    default_url = "wss://stream.bybit.com/v5/public/spot"
    default_ping_interval = 20.0
    ping_payload = '{"op":"ping"}'
    history = BybitHistory

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
