"""Turning a decoded trade into a ``Tick``, or saying exactly why not.

Every adapter decodes its own wire format into loose fields and hands them
here, so one set of rules (and one set of counter reasons) covers all feeds.
"""

import math
from datetime import datetime

from app.domain.errors import InvalidTick
from app.domain.tick import Tick
from app.domain.time_grid import MS_PER_DAY, MS_PER_SECOND

# Timestamps below this are taken as seconds: 1e11 ms is March 1973, while
# 1e11 s is far in the future, so the two ranges cannot be confused.
_SECONDS_CEILING = 100_000_000_000
# Exchange clocks run a little ahead of ours; beyond this a timestamp is wrong,
# and accepting it would open a minute bucket that never closes.
MAX_FUTURE_SKEW_MS = 10_000
# Older trades than this are not live data; they would only rewrite history.
MAX_AGE_MS = MS_PER_DAY
# No traded asset is priced anywhere near this; far above it sums of prices overflow to infinity.
DEFAULT_MAX_PRICE = 1e12
# Far beyond any single trade; it keeps price x quantity sums finite.
MAX_QUANTITY = 1e15
# Real trade ids are at most a few dozen characters; a longer one is garbage that would bloat the dedup memory.
MAX_ID_CHARS = 64


def to_price(value: object, max_price: float = DEFAULT_MAX_PRICE) -> float:
    """A positive price up to ``max_price`` from a JSON number or numeric string."""
    if isinstance(value, bool) or value is None:
        raise InvalidTick("bad_price", repr(value)[:40])
    if isinstance(value, (int, float)):
        price = float(value)
    elif isinstance(value, str):
        try:
            price = float(value)
        except ValueError:
            raise InvalidTick("bad_price", repr(value)[:40]) from None
    else:
        raise InvalidTick("bad_price", type(value).__name__)
    if not math.isfinite(price) or price <= 0 or price > max_price:
        raise InvalidTick("bad_price", repr(value)[:40])
    return price


def to_timestamp_ms(value: object) -> int:
    """Unix ms from ms or seconds (number or numeric string) or an ISO 8601 string."""
    if isinstance(value, bool) or value is None:
        raise InvalidTick("bad_timestamp", repr(value)[:40])
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidTick("bad_timestamp", repr(value)[:40]) from None
            if parsed.tzinfo is None:
                raise InvalidTick("bad_timestamp", "ISO timestamp without a zone") from None
            return round(parsed.timestamp() * MS_PER_SECOND)
        value = number
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidTick("bad_timestamp", repr(value)[:40])
    return round(value * MS_PER_SECOND) if value < _SECONDS_CEILING else int(value)


def to_quantity(value: object) -> float | None:
    """A positive traded size from a JSON number or numeric string; None when the feed gives none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidTick("bad_quantity", repr(value)[:40])
    try:
        quantity = float(value)
    except ValueError:
        raise InvalidTick("bad_quantity", repr(value)[:40]) from None
    if not math.isfinite(quantity) or not 0 < quantity <= MAX_QUANTITY:
        raise InvalidTick("bad_quantity", repr(value)[:40])
    return quantity


def to_trade_id(value: object) -> str | None:
    """The exchange's trade id as text (ids are integers on some exchanges, strings on others)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "" or len(str(value)) > MAX_ID_CHARS:
        raise InvalidTick("bad_trade_id", repr(value)[:40])
    return str(value)


def make_tick(
    exchange: str,
    symbol: object,
    price: object,
    ts: object,
    quantity: object,
    trade_id: object,
    symbols: frozenset[str],
    now_ms: int,
    max_price: float = DEFAULT_MAX_PRICE,
) -> Tick:
    """Validate one trade against the configured ``symbols`` and ``max_price`` and the current time.

    ``quantity`` and ``trade_id`` may be None (a feed without them); when given they must be valid.
    """
    if not isinstance(symbol, str):
        raise InvalidTick("bad_symbol", repr(symbol)[:40])
    canonical = symbol.upper()
    if canonical not in symbols:
        raise InvalidTick("unknown_symbol", symbol[:40])
    checked_price = to_price(price, max_price)
    ts_ms = to_timestamp_ms(ts)
    if not now_ms - MAX_AGE_MS <= ts_ms <= now_ms + MAX_FUTURE_SKEW_MS:
        raise InvalidTick("timestamp_out_of_range", str(ts_ms))
    return Tick(exchange, canonical, checked_price, ts_ms, 0, to_quantity(quantity), to_trade_id(trade_id))
