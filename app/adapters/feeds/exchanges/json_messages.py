"""Reading an exchange's JSON messages into trades, and writing the ones we send.

Every reader raises ``InvalidTick`` with a counter reason for what it can't
read; ``per_trade`` keeps that to the one entry of a message it concerns.
"""

from collections.abc import Callable, Iterable, Iterator

import orjson

from app.adapters.feeds.exchanges.symbol_spelling import PairSpelling
from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade


def json_text(message: object) -> str:
    """A message to send, as compact JSON text."""
    return orjson.dumps(message).decode()


def load_object(raw: bytes | str) -> dict:
    """Parse a JSON object or raise ``InvalidTick`` with a counter reason."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidTick("invalid_json", str(raw[:60])) from None
    if not isinstance(message, dict):
        raise InvalidTick("not_an_object", type(message).__name__)
    return message


def trade_list(message: dict, key: str = "data") -> list[dict]:
    trades = message.get(key)
    if not isinstance(trades, list):
        raise InvalidTick("missing_field", key)
    return trades


def fields(
    trade: object, symbol: str, price: str, ts: str, quantity: str, trade_id: str, spelling: PairSpelling | None = None
) -> RawTrade:
    """The five fields of one trade, by the exchange's names for them; all are required.

    The symbol comes back in our spelling when the exchange writes pairs its own way (``spelling``).
    """
    if not isinstance(trade, dict):
        raise InvalidTick("not_an_object", type(trade).__name__)
    for name in (symbol, price, ts, quantity, trade_id):
        if name not in trade:
            raise InvalidTick("missing_field", name)
    pair = trade[symbol] if spelling is None else spelling.ours(trade[symbol])
    return pair, trade[price], trade[ts], trade[quantity], trade[trade_id]


def per_trade(trades: list, pick: Callable[[object], Iterable[RawTrade]]) -> Iterator[Decoded]:
    """``pick``'s trades for each entry in turn; an entry it rejects comes out as its ``InvalidTick``."""
    for trade in trades:
        try:
            picked = list(pick(trade))
        except InvalidTick as exc:
            yield exc
            continue
        yield from picked


def data_trades(raw: bytes | str, pick: Callable[[object], Iterable[RawTrade]]) -> Iterator[Decoded]:
    """The trades of a message whose ``data`` lists them, ``pick`` reading each entry."""
    return per_trade(trade_list(load_object(raw)), pick)
