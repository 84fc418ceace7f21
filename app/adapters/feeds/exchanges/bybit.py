"""Bybit v5 spot: ``publicTrade.<SYMBOL>`` topics, ``instruments-info`` for the listing, ``recent-trade`` for what
a stream missed.

Subscribe: ``{"req_id":"1","op":"subscribe","args":[...]}`` (unsubscribe
alike), each answered by ``{"success":true,"op":"subscribe","req_id":"1"}``.
Limits: at most 10 args per request (spot), at most 21,000 characters of args
on one connection, at most 500 new connections per 5 minutes. A topic it
refuses comes back as ``"success":false`` with ``"ret_msg":"Invalid symbol
:[publicTrade.XYZUSDT]"`` (observed; Bybit documents no error texts), naming
the topics it refused. The client sends ``{"op":"ping"}`` about every 20 s;
the reply carries ``"ret_msg":"pong"`` or ``"op":"pong"``. One message can
carry several trades.

Listing: ``GET /v5/market/instruments-info?category=spot`` (one answer: spot
is not paged): ``result.list[]`` with ``symbol``, ``status`` (``Trading``),
``quoteCoin``; a delisted pair drops out of it.

History: ``GET /v5/market/recent-trade?category=spot&symbol=&limit=`` (spot:
at most the last 60 trades, newest first): whatever of the span is older
than its oldest trade is lost, with no count (Bybit's ids don't tell).
"""

import re
from collections.abc import Collection, Iterator, Sequence

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, Listed, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.adapters.feeds.exchanges.rest_answers import as_int, row_field, rows_at
from app.adapters.feeds.exchanges.rest_history import ExchangeHistory
from app.adapters.net.rest_client import RestClient, RestError
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import Decoded, RawTrade

TOPIC = "publicTrade."
# Documented per public connection: the args of every subscription on it, in characters.
MAX_ARGS_CHARACTERS = 21_000
# "Invalid symbol :[publicTrade.XYZUSDT,publicTrade.ABCUSDT]"
REFUSED_TOPICS = re.compile(r"\[([^\]]*)\]")


class BybitHistory(ExchangeHistory):
    LIMIT = 60  # spot's maximum

    def recover(self, missing: Missing) -> Recovery:
        params = {"category": "spot", "symbol": self._names.theirs(missing.symbol), "limit": self.LIMIT}
        answer = self._client.get("/v5/market/recent-trade", params)
        _check(answer)
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
    rest_base = "https://api.bybit.com"
    # 600 requests per 5 s per IP; a few a second is plenty.
    rest_interval = 0.1
    max_symbols_per_connection = 1000
    max_symbols_per_request = 10
    request_interval = 0.2
    connect_interval = 0.6

    @classmethod
    def fits(cls, symbols: Collection[str], cap: int) -> bool:
        """Within the symbols' cap and the connection's 21,000 characters of args (each topic, quoted, a comma)."""
        characters = sum(len(TOPIC) + len(symbol) + 3 for symbol in symbols)
        return super().fits(symbols, cap) and characters <= MAX_ARGS_CHARACTERS

    @classmethod
    def connection_bound(cls) -> str:
        """Its topics' characters, which run out first: a topic (``publicTrade.`` and a pair of six letters or
        more, quoted, a comma) takes at least 21, so 1,000 of them fill the 21,000."""
        return f"{MAX_ARGS_CHARACTERS:,} characters of topics"

    def message(self, symbols: Sequence[str], request_id: str, subscribe: bool) -> str:
        op = "subscribe" if subscribe else "unsubscribe"
        return json_text({"req_id": request_id, "op": op, "args": [TOPIC + self.theirs(s) for s in symbols]})

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        if str(message.get("topic", "")).startswith(TOPIC):
            return None
        if message.get("op") == "pong" or message.get("ret_msg") == "pong":
            return Control("pong")
        request_id = None if message.get("req_id") in (None, "") else str(message["req_id"])
        if message.get("op") in ("subscribe", "unsubscribe"):
            words = str(message.get("ret_msg") or f"{message.get('op')} failed")
            if message.get("success") or "already subscribed" in words:  # asked again for what it holds
                return Control("ack", request_id=request_id)
            return Control("refused", words, request_id, _refused_symbols(words))
        if message.get("success") is False:
            return Control("error", str(message.get("ret_msg")))
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        return data_trades(raw, lambda trade: [fields(trade, "s", "p", "T", "v", "i")])

    @classmethod
    def listing(cls, client: RestClient) -> list[Listed]:
        answer = client.get("/v5/market/instruments-info", {"category": "spot"})
        _check(answer)
        return [
            Listed(
                str(row_field(row, "symbol")),
                str(row_field(row, "symbol")),
                str(row_field(row, "quoteCoin")),
                row_field(row, "status") == "Trading",
            )
            for row in rows_at(answer, "result", "list")
        ]


def _check(answer: object) -> None:
    """Bybit answers errors with HTTP 200 and a ``retCode`` of its own."""
    if isinstance(answer, dict) and answer.get("retCode") not in (0, None):
        raise RestError(f"Bybit {answer.get('retCode')} {answer.get('retMsg', '')}".strip())


def _refused_symbols(words: str) -> tuple[str, ...]:
    """The symbols a refusal names (``Invalid symbol :[publicTrade.X,...]``); none: it refused the whole request."""
    named = REFUSED_TOPICS.search(words)
    if named is None:
        return ()
    topics = [topic.strip() for topic in named.group(1).split(",")]
    return tuple(topic[len(TOPIC) :] for topic in topics if topic.startswith(TOPIC))
