"""The line format of the exchange programs and of the synthetic generator.

``{"symbol":"BTCUSDT","price":96123.45,"timestamp":1763712000123}``, one per
line; extra fields are ignored, the rest is judged by ``domain.validation``.
"""

from collections.abc import Iterator

import orjson

from app.domain.errors import InvalidTick

FIELDS = ("symbol", "price", "timestamp")


def decode_line(raw: bytes) -> Iterator[tuple[object, object, object, None, None]]:
    """One trade per line, without quantity or trade id (the exchange programs send neither)."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidTick("invalid_json", raw[:60].decode("utf-8", "replace")) from None
    if not isinstance(message, dict):
        raise InvalidTick("not_an_object", type(message).__name__)
    for name in FIELDS:
        if name not in message:
            raise InvalidTick("missing_field", name)
    yield message["symbol"], message["price"], message["timestamp"], None, None


def encode_line(symbol: str, price: float, ts_ms: int) -> bytes:
    return orjson.dumps({"symbol": symbol, "price": price, "timestamp": ts_ms})
