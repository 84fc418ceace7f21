"""OKX v5: the public ``trades`` channel, ``public/instruments`` for the listing, ``history-trades`` for what a
stream missed.

Subscribe: ``{"id":"1","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}``
(unsubscribe alike), acknowledged per channel with ``{"event":"subscribe","arg":{...}}``;
an unknown or delisted instId is refused with ``{"event":"error","code":"60018","msg":"Wrong URL or
channel:trades,instId:XYZ-USDT doesn't exist. ..."}``. Limits: a request's args
at most 64 KB; at most 480 subscribe/unsubscribe requests per connection an
hour (a request with many args counts once); at most 3 new connections a
second per IP; how many channels one connection may hold is not documented,
but closes 4008/4009 ("exceeds the maximum limit") exist, so we keep 500. The
server drops a connection silent for 30 s, so the client sends the text
``ping`` well before and expects the text ``pong``. Numbers and timestamps are
strings; symbols are spelled ``BTC-USDT``. One ``trades`` entry can stand for
several matched trades at one price (``count``): it becomes that many ticks,
so counts and averages weigh it as the trades it stands for.

Listing: ``GET /api/v5/public/instruments?instType=SPOT`` (20 requests per
2 s; no paging): ``data[]`` with ``instId``, ``quoteCcy``, ``state``
(``live`` trades); a delisted pair drops out of it, and an announced one may
have an empty ``quoteCcy`` until shortly before it lists (the ``instId``
tells it).

History: ``GET /api/v5/market/history-trades?instId=&type=1&after=&limit=``
(up to 100 a page, newest first, ``after`` a trade id: older ones; 20
requests per 2 s per IP) pages back from the first trade after the span
until it reaches the trade before it; where the history ends first, the
rest is lost, with no count.
"""

import re
from collections.abc import Iterator, Sequence

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, Listed, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.adapters.feeds.exchanges.rest_answers import as_int, row_field, rows_at
from app.adapters.feeds.exchanges.rest_history import ExchangeHistory, Pages
from app.adapters.feeds.exchanges.symbol_spelling import DASHED
from app.adapters.net.rest_client import RestClient, RestError
from app.domain.errors import InvalidTick
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import Decoded, RawTrade
from app.domain.validation import to_quantity

# More matched trades than this in one entry is not a real aggregation but a broken message.
MAX_TRADES_PER_ENTRY = 10_000
# 60018: "Wrong URL or channel:trades,instId:XYZ-USDT doesn't exist. ..."
MISSING_INSTRUMENT = re.compile(r"instId:([^,\s]+)")


class OkxHistory(ExchangeHistory):
    PAGE = 100
    MAX_PAGES = 30

    def recover(self, missing: Missing) -> Recovery:
        inst_id = self._names.theirs(missing.symbol)
        after = missing.after

        def fetch(cursor: str) -> list[dict]:
            """The page of trades older than the trade ``cursor``, newest first."""
            params = {"instId": inst_id, "type": 1, "after": cursor, "limit": self.PAGE}
            answer = self._client.get("/api/v5/market/history-trades", params)
            if isinstance(answer, dict) and str(answer.get("code", "0")) != "0":
                raise RestError(f"OKX {answer.get('code')} {answer.get('msg', '')}".strip())
            return rows_at(answer, "data")

        newest_first: list[RawTrade] = []
        for rows in Pages(fetch, missing.before.trade_id, lambda rows: str(rows[-1]["tradeId"]), self.MAX_PAGES):
            for row in rows:
                trade_id, ts = str(row_field(row, "tradeId")), as_int(row_field(row, "ts"))
                if trade_id == after.trade_id or ts < after.ts_ms:
                    return Recovery(newest_first[::-1], None)
                newest_first.append((missing.symbol, row_field(row, "px"), ts, row_field(row, "sz"), trade_id))
        oldest = newest_first[-1][2] if newest_first else missing.before.ts_ms
        return Recovery(newest_first[::-1], TradeGap(self._exchange, missing.symbol, after.ts_ms, oldest, None))


class OkxProtocol(ExchangeProtocol):
    kind = "okx"
    default_url = "wss://ws.okx.com:8443/ws/v5/public"
    default_ping_interval = 20.0
    ping_payload = "ping"
    history = OkxHistory
    rest_base = "https://www.okx.com"
    # 20 requests per 2 s per IP: 5 a second leaves half of it.
    rest_interval = 0.2
    max_symbols_per_connection = 500
    max_symbols_per_request = 500
    max_request_bytes = 60_000
    requests_per_hour = 480
    acks_per_symbol = True
    connect_interval = 0.4
    spelling = DASHED

    def message(self, symbols: Sequence[str], request_id: str, subscribe: bool) -> str:
        args = [{"channel": "trades", "instId": self.theirs(symbol)} for symbol in symbols]
        return json_text({"id": request_id, "op": "subscribe" if subscribe else "unsubscribe", "args": args})

    def control(self, raw: str) -> Control | None:
        if raw == "pong":
            return Control("pong")
        message = load_object(raw)
        if "data" in message and isinstance(message.get("arg"), dict):
            return None
        event = message.get("event")
        request_id = None if message.get("id") in (None, "") else str(message["id"])
        if event in ("subscribe", "unsubscribe"):
            arg = message.get("arg")
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            return Control("ack", request_id=request_id, symbols=(DASHED.ours(inst_id),) if inst_id else ())
        if event == "error":
            words = f"{message.get('code', '')} {message.get('msg', '')}".strip()
            named = MISSING_INSTRUMENT.search(str(message.get("msg", "")))
            if named is None and request_id is None:
                return Control("error", words)
            return Control("refused", words, request_id, (DASHED.ours(named.group(1)),) if named else ())
        if event == "notice":
            return Control("reconnect", str(message.get("msg", "notice")))
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        return data_trades(raw, _trades)

    @classmethod
    def listing(cls, client: RestClient) -> list[Listed]:
        answer = client.get("/api/v5/public/instruments", {"instType": "SPOT"})
        if isinstance(answer, dict) and str(answer.get("code", "0")) != "0":
            raise RestError(f"OKX {answer.get('code')} {answer.get('msg', '')}".strip())
        listed = []
        for row in rows_at(answer, "data"):
            inst_id = str(row_field(row, "instId"))
            quote = str(row.get("quoteCcy") or inst_id.rpartition("-")[2])
            listed.append(Listed(str(DASHED.ours(inst_id)), inst_id, quote, row_field(row, "state") == "live"))
        return listed


def _trades(entry: object) -> list[RawTrade]:
    """The ``count`` matched trades one entry stands for (one when it has no ``count``).

    They share the entry's size equally and get ids of their own (the entry's
    ``tradeId``, then ``tradeId:2`` ...), so a replay of the entry is
    recognised as a whole and its trades are never taken for repeats of each other.
    """
    symbol, price, ts, size, trade_id = fields(entry, "instId", "px", "ts", "sz", "tradeId", DASHED)
    count = _count(entry)
    if count == 1:
        return [(symbol, price, ts, size, trade_id)]
    share = to_quantity(size)
    each = None if share is None else share / count
    return [(symbol, price, ts, each, trade_id if n == 1 else f"{trade_id}:{n}") for n in range(1, count + 1)]


def _count(entry: dict) -> int:
    value = entry.get("count", 1)
    try:
        count = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else 0
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_TRADES_PER_ENTRY:
        raise InvalidTick("bad_count", repr(value)[:40])
    return count
