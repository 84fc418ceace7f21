"""OKX v5 public ``trades`` channel.

Subscribe: ``{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}``,
acknowledged per channel with ``{"event":"subscribe",...}``; errors come as
``{"event":"error","code":...,"msg":...}``. The server drops a connection
silent for 30 s, so the client sends the text ``ping`` well before and
expects the text ``pong``. Numbers and timestamps are strings; symbols are
spelled ``BTC-USDT``. One ``trades`` entry can stand for several matched
trades at one price (``count``): it becomes that many ticks, so counts and
averages weigh it as the trades it stands for.
"""

from collections.abc import Iterator

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, unrecognised
from app.adapters.feeds.exchanges.json_messages import data_trades, fields, json_text, load_object
from app.adapters.feeds.exchanges.symbol_spelling import DASHED
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade
from app.domain.validation import to_quantity

# More matched trades than this in one entry is not a real aggregation but a broken message.
MAX_TRADES_PER_ENTRY = 10_000


class OkxProtocol(ExchangeProtocol):
    kind = "okx"
    default_url = "wss://ws.okx.com:8443/ws/v5/public"
    default_ping_interval = 20.0
    ping_payload = "ping"

    def subscribe_messages(self) -> list[str]:
        args = [{"channel": "trades", "instId": DASHED.theirs(symbol)} for symbol in self.symbols]
        return [json_text({"op": "subscribe", "args": args})]

    def control(self, raw: str) -> Control | None:
        if raw == "pong":
            return Control("pong")
        message = load_object(raw)
        if "data" in message and isinstance(message.get("arg"), dict):
            return None
        event = message.get("event")
        if event == "subscribe":
            arg = message.get("arg")
            return Control("ack", str(arg.get("instId", "")) if isinstance(arg, dict) else "")
        if event == "error":
            return Control("error", f"{message.get('code', '')} {message.get('msg', '')}".strip())
        if event == "notice":
            return Control("reconnect", str(message.get("msg", "notice")))
        return unrecognised(raw)

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        return data_trades(raw, _trades)


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
