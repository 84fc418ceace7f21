"""What the WebSocket source needs to know about one exchange.

A message is either data (handed raw to the pipeline, whose workers call
``decode``) or a control message the connection loop handles itself
(``Control``): acks, pongs, errors in the exchange's own words, and requests
to reconnect. ``decode`` yields one ``(symbol, price, timestamp, quantity, trade_id)``
per trade, with the symbol in our spelling, or an ``InvalidTick`` in place of a trade it
can't read, so one bad trade never hides the good ones after it in the same
message. A message it can't read at all raises ``InvalidTick``.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import orjson

from app.domain.errors import InvalidTick
from app.domain.tick import Decoded, RawTrade


@dataclass(frozen=True)
class Control:
    kind: str  # "ack", "pong", "error", "reconnect" or "ignore"
    detail: str = ""


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


def fields(trade: object, symbol: str, price: str, ts: str, quantity: str, trade_id: str) -> RawTrade:
    """The five fields of one trade, by the exchange's names for them; all are required."""
    if not isinstance(trade, dict):
        raise InvalidTick("not_an_object", type(trade).__name__)
    for name in (symbol, price, ts, quantity, trade_id):
        if name not in trade:
            raise InvalidTick("missing_field", name)
    return trade[symbol], trade[price], trade[ts], trade[quantity], trade[trade_id]


def per_trade(trades: list, pick: Callable[[object], Iterable[RawTrade]]) -> Iterator[Decoded]:
    """``pick``'s trades for each entry in turn; an entry it rejects comes out as its ``InvalidTick``."""
    for trade in trades:
        try:
            picked = list(pick(trade))
        except InvalidTick as exc:
            yield exc
            continue
        yield from picked


class ExchangeProtocol:
    """Defaults suit a JSON protocol with server-side keep-alive."""

    kind: ClassVar[str]
    default_url: ClassVar[str]
    # Send ``ping_payload`` this often (None: the server pings and the client answers).
    default_ping_interval: ClassVar[float | None] = None
    # A text message, or None for a WebSocket ping frame (what a ``ping_interval_seconds`` sends to
    # an exchange like Binance, that keeps connections alive with ping/pong frames only).
    ping_payload: ClassVar[str | None] = None
    # Reconnect before the exchange cuts a connection this old (None: no cut).
    max_connection_age: ClassVar[float | None] = None
    # Whether trade ids count up by one per trade of a symbol, so a jump shows trades missed, and how many.
    sequential_ids: ClassVar[bool] = False

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols

    def subscribe_messages(self) -> list[str]:
        raise NotImplementedError

    def control(self, raw: str) -> Control | None:
        """``None`` for data, else what the connection loop should do with it."""
        raise NotImplementedError

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        raise NotImplementedError
