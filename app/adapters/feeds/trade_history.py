"""The exchanges' public trade history over REST, for the trades a stream missed (no API key).

- Binance ``GET /api/v3/historicalTrades?symbol=&fromId=&limit=`` (up to
  1000 a page, weight 5 of the 6,000 a minute per IP): pages forward by trade
  id, and ids are sequential per symbol, so it recovers a span exactly and
  counts what is gone when the history starts later than the span.
- Bybit ``GET /v5/market/recent-trade?category=spot&symbol=&limit=`` (spot:
  at most the last 60 trades, newest first): whatever of the span is older
  than its oldest trade is lost, with no count (Bybit's ids don't tell).
- OKX ``GET /api/v5/market/history-trades?instId=&type=1&after=&limit=``
  (up to 100 a page, newest first, ``after`` a trade id: older ones; 20
  requests per 2 s per IP): pages back from the first trade after the span
  until it reaches the trade before it; where the history ends first, the
  rest is lost, with no count.
Each answers with the stream's own fields (price, size, time, id), which go
through the same validation as streamed trades.
"""

import ssl
from typing import ClassVar

from app.adapters.feeds.exchanges.symbol_spelling import DASHED
from app.adapters.net.connector import Connector
from app.adapters.net.rest_client import RestClient, RestError
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import RawTrade


def _rows(answer: object, *path: str) -> list[dict]:
    """The list of trade objects at ``path`` inside ``answer``; ``RestError`` if it is not there."""
    for key in path:
        answer = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(answer, list) or not all(isinstance(row, dict) for row in answer):
        raise RestError(f"no list of trades at {'.'.join(path) or 'the top'}")
    return answer


def _field(row: dict, name: str) -> object:
    if name not in row:
        raise RestError(f"a trade without {name!r}")
    return row[name]


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise RestError(f"not an integer: {value!r:.40}") from None


class ExchangeHistory:
    """One exchange's history endpoint: its documented base URL and how far apart its requests go."""

    default_base: ClassVar[str]
    min_interval: ClassVar[float]

    def __init__(self, exchange: str, client: RestClient) -> None:
        self._exchange = exchange
        self._client = client

    def recover(self, missing: Missing) -> Recovery:
        raise NotImplementedError


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
            rows = _rows(self._client.get("/api/v3/historicalTrades", params))
            page = [row for row in rows if next_id <= _int(_field(row, "id")) <= last]
            if not page:
                break
            start = _int(page[0]["id"])
            if start > next_id and lost is None:  # the exchange's history begins inside the span
                begins = _int(_field(page[0], "time"))
                lost = TradeGap(self._exchange, missing.symbol, missing.after.ts_ms, begins, start - next_id)
            trades.extend(
                (missing.symbol, _field(r, "price"), _field(r, "time"), _field(r, "qty"), _int(r["id"])) for r in page
            )
            next_id = _int(page[-1]["id"]) + 1
        if next_id <= last and lost is None:
            lost_from = _int(trades[-1][2]) if trades else missing.after.ts_ms
            lost = TradeGap(self._exchange, missing.symbol, lost_from, missing.before.ts_ms, last - next_id + 1)
        return Recovery(trades, lost)


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
        rows = _rows(answer, "result", "list")
        after, before = missing.after.ts_ms, missing.before.ts_ms
        times = [_int(_field(row, "time")) for row in rows]
        trades: list[RawTrade] = [
            (missing.symbol, _field(row, "price"), ts, _field(row, "size"), _field(row, "execId"))
            for row, ts in sorted(zip(rows, times, strict=True), key=lambda pair: pair[1])
            if after <= ts <= before
        ]
        reached = len(rows) < self.LIMIT or (times and min(times) <= after)
        lost = None if reached else TradeGap(self._exchange, missing.symbol, after, min(times), None)
        return Recovery(trades, lost)


class OkxHistory(ExchangeHistory):
    default_base = "https://www.okx.com"
    # 20 requests per 2 s per IP: 5 a second leaves half of it.
    min_interval = 0.2
    PAGE = 100
    MAX_PAGES = 30

    def recover(self, missing: Missing) -> Recovery:
        inst_id = DASHED.theirs(missing.symbol)
        after, cursor = missing.after, missing.before.trade_id
        newest_first: list[RawTrade] = []
        for _ in range(self.MAX_PAGES):
            params = {"instId": inst_id, "type": 1, "after": cursor, "limit": self.PAGE}
            answer = self._client.get("/api/v5/market/history-trades", params)
            if isinstance(answer, dict) and str(answer.get("code", "0")) != "0":
                raise RestError(f"OKX {answer.get('code')} {answer.get('msg', '')}".strip())
            rows = _rows(answer, "data")
            if not rows:
                break
            for row in rows:
                trade_id, ts = str(_field(row, "tradeId")), _int(_field(row, "ts"))
                if trade_id == after.trade_id or ts < after.ts_ms:
                    return Recovery(newest_first[::-1], None)
                newest_first.append((missing.symbol, _field(row, "px"), ts, _field(row, "sz"), trade_id))
            cursor = str(rows[-1]["tradeId"])
        oldest = newest_first[-1][2] if newest_first else missing.before.ts_ms
        return Recovery(newest_first[::-1], TradeGap(self._exchange, missing.symbol, after.ts_ms, oldest, None))


# By exchange kind; Coinbase and Kraken have none here, so what their streams miss is recorded as lost.
HISTORIES: dict[str, type[ExchangeHistory]] = {"binance": BinanceHistory, "bybit": BybitHistory, "okx": OkxHistory}


def trade_history(
    kind: str, name: str, rest_url: str, connector: Connector, timeout: float, tls: ssl.SSLContext
) -> ExchangeHistory | None:
    """``name``'s history at ``rest_url`` (or the documented base), or None for an exchange without one here.

    The REST client has a name of its own for the proxy router (``<name> rest``): it follows the same
    proxy settings as the stream without taking over the stream's route state or its direct probes.
    """
    history = HISTORIES.get(kind)
    if history is None:
        return None
    client = RestClient(f"{name} rest", rest_url or history.default_base, connector, timeout, tls, history.min_interval)
    return history(name, client)
