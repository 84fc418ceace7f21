"""The line format of the exchange programs and of the synthetic generator.

``{"symbol":"BTCUSDT","price":96123.45,"timestamp":1763712000123}``, one per
line; an optional ``"quantity"`` (the synthetic generator sends one, the
exchange programs don't) is passed on as a fourth field; other extra fields
are ignored, the rest is judged by ``domain.validation``.
"""

from collections.abc import Iterator

import orjson

from app.domain.errors import InvalidTick
from app.domain.tick import RawTrade

FIELDS = ("symbol", "price", "timestamp")


def decode_line(raw: bytes) -> Iterator[RawTrade]:
    """One trade per line, without a trade id; a quantity only where the line has one (the synthetic
    generator's do, the exchange programs' don't)."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidTick("invalid_json", raw[:60].decode("utf-8", "replace")) from None
    if not isinstance(message, dict):
        raise InvalidTick("not_an_object", type(message).__name__)
    for name in FIELDS:
        if name not in message:
            raise InvalidTick("missing_field", name)
    yield message["symbol"], message["price"], message["timestamp"], message.get("quantity"), None


def encode_line(symbol: str, price: float, ts_ms: int, quantity: float | None = None) -> bytes:
    fields: dict[str, object] = {"symbol": symbol, "price": price, "timestamp": ts_ms}
    if quantity is not None:
        fields["quantity"] = quantity
    return orjson.dumps(fields)
