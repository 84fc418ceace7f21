"""Coinbase Advanced Trade: the ``market_trades`` channel, ``market/products`` for the listing (no trade history
here: what a stream misses is lost).

Subscribe: ``{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"market_trades"}``
(unsubscribe alike), one channel per message, within 5 s of connecting;
plus the ``heartbeats`` channel, or quiet channels are closed after 60-90 s.
Acks arrive on the ``subscriptions`` channel and list every subscription of
the socket, naming no request, so requests go one at a time; an error comes
as ``{"type":"error","message":...}`` (on the Exchange feed one unknown
product fails the whole request, with ``"reason":"X is not a valid
product"``). Limits: at most 8 unauthenticated messages and 8 new
connections a second per IP; how many products one request or connection
may hold is not documented. Trades: ``events[].trades[]`` with ``trade_id``,
``product_id``, ``price``, ``size``, ``time`` (RFC 3339). The snapshot event
sent on subscribe repeats recent history, so only ``update`` events are
data: a reconnect must not count old trades again.

Listing: ``GET /api/v3/brokerage/market/products?product_type=SPOT`` (public;
paged by ``cursor``, ``pagination.has_next``): ``products[]`` with
``product_id``, ``base_currency_id``, ``quote_currency_id``, ``status``,
``trading_disabled``, ``is_disabled``; a delisted product stays listed,
disabled.
"""

import re
from collections.abc import Iterator, Sequence

from app.adapters.feeds.exchanges.base import SNAPSHOT, Control, ExchangeProtocol, Listed, Request, unrecognised
from app.adapters.feeds.exchanges.json_messages import fields, json_text, load_object, per_trade, trade_list
from app.adapters.feeds.exchanges.rest_answers import row_field, rows_at
from app.adapters.feeds.exchanges.symbol_spelling import DASHED
from app.adapters.net.rest_client import RestClient
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade

# "XYZ-USD is not a valid product"
NOT_A_PRODUCT = re.compile(r"^(\S+) is not a valid product")
PAGE = 250
# A listing of this many pages is not a listing we asked for.
MAX_PAGES = 100


class CoinbaseProtocol(ExchangeProtocol):
    kind = "coinbase"
    default_url = "wss://advanced-trade-ws.coinbase.com"
    rest_base = "https://api.coinbase.com"
    # 10 public requests a second per IP.
    rest_interval = 0.2
    max_symbols_per_connection = 100
    max_symbols_per_request = 100
    one_request_at_a_time = True
    connect_interval = 0.2
    spelling = DASHED

    def opening(self) -> list[Request]:
        return [Request(json_text({"type": "subscribe", "channel": "heartbeats"}), (), None, subscribe=True)]

    def message(self, symbols: Sequence[str], request_id: str, subscribe: bool) -> str:
        products = [self.theirs(symbol) for symbol in symbols]
        kind = "subscribe" if subscribe else "unsubscribe"
        return json_text({"type": kind, "product_ids": products, "channel": "market_trades"})

    def control(self, raw: str) -> Control | None:
        message = load_object(raw)
        channel = message.get("channel")
        if channel == "market_trades":
            events = message.get("events")
            updates = isinstance(events, list) and any(
                isinstance(e, dict) and e.get("type") == "update" for e in events
            )
            return None if updates else SNAPSHOT
        if channel == "subscriptions":
            return Control("ack", "subscriptions")
        if channel == "heartbeats":
            return Control("pong")
        if message.get("type") == "error":
            reason = str(message.get("reason", ""))
            words = f"{message.get('message', 'error')} {reason}".strip()
            named = NOT_A_PRODUCT.match(reason)
            return Control("refused", words, symbols=(str(DASHED.ours(named.group(1))),) if named else ())
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        for event in trade_list(load_object(raw), "events"):
            if not isinstance(event, dict):
                yield InvalidTick("not_an_object", type(event).__name__)
            elif event.get("type") == "update":
                yield from per_trade(trade_list(event, "trades"), _trade)

    @classmethod
    def listing(cls, client: RestClient) -> list[Listed]:
        listed: list[Listed] = []
        params: dict[str, object] = {"product_type": "SPOT", "limit": PAGE}
        for _ in range(MAX_PAGES):
            answer = client.get("/api/v3/brokerage/market/products", params)
            for row in rows_at(answer, "products"):
                base, quote = str(row_field(row, "base_currency_id")), str(row_field(row, "quote_currency_id"))
                trading = not row.get("trading_disabled") and not row.get("is_disabled")
                trading = trading and str(row.get("status", "online")).lower() == "online"
                listed.append(Listed(base + quote, str(row_field(row, "product_id")), quote, trading))
            pages = answer.get("pagination") if isinstance(answer, dict) else None
            if not isinstance(pages, dict) or not pages.get("has_next") or not pages.get("next_cursor"):
                break
            params = {**params, "cursor": pages["next_cursor"]}
        return listed


def _trade(trade: object) -> list[RawTrade]:
    return [fields(trade, "product_id", "price", "time", "size", "trade_id", DASHED)]
