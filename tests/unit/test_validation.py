import math

import pytest

from app.domain.errors import InvalidTick
from app.domain.validation import make_tick, to_price, to_quantity, to_timestamp_ms

SYMBOLS = frozenset({"BTCUSDT"})
NOW = 1_763_712_000_123


def test_make_tick_normalises_symbol_case() -> None:
    tick = make_tick("ex", "btcusdt", "96123.45", 1_763_712_000_123, None, None, SYMBOLS, NOW)
    assert (tick.exchange, tick.symbol, tick.price, tick.ts_ms) == ("ex", "BTCUSDT", 96123.45, 1_763_712_000_123)


@pytest.mark.parametrize("price", [0, -1, math.nan, math.inf, "abc", None, True, [], "nan", "-2"])
def test_bad_prices(price: object) -> None:
    with pytest.raises(InvalidTick) as caught:
        to_price(price)
    assert caught.value.reason == "bad_price"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_763_712_000_123, 1_763_712_000_123),
        (1_763_712_000, 1_763_712_000_000),
        (1_763_712_000.5, 1_763_712_000_500),
        ("1763712000123", 1_763_712_000_123),
        ("2025-11-21T08:00:00.123Z", 1_763_712_000_123),
        ("2025-11-21T09:00:00.123+01:00", 1_763_712_000_123),
    ],
)
def test_timestamps(value: object, expected: int) -> None:
    assert to_timestamp_ms(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2025-11-21T08:00:00", -5, 0, math.inf, None, False, {}])
def test_bad_timestamps(value: object) -> None:
    with pytest.raises(InvalidTick) as caught:
        to_timestamp_ms(value)
    assert caught.value.reason == "bad_timestamp"


def test_unknown_and_bad_symbols() -> None:
    with pytest.raises(InvalidTick) as caught:
        make_tick("ex", "XRPUSDT", 1, 1_763_712_000_000, None, None, SYMBOLS, NOW)
    assert caught.value.reason == "unknown_symbol"
    with pytest.raises(InvalidTick) as caught:
        make_tick("ex", 42, 1, 1_763_712_000_000, None, None, SYMBOLS, NOW)
    assert caught.value.reason == "bad_symbol"


@pytest.mark.parametrize("ts", [NOW + 10_001, NOW - 86_400_001, 4_102_444_800_000, 100_000_000_000])
def test_timestamps_far_from_now_are_rejected(ts: int) -> None:
    with pytest.raises(InvalidTick) as caught:
        make_tick("ex", "BTCUSDT", 1, ts, None, None, SYMBOLS, NOW)
    assert caught.value.reason == "timestamp_out_of_range"


@pytest.mark.parametrize("ts", [NOW + 10_000, NOW - 86_400_000])
def test_timestamps_at_the_edges_are_accepted(ts: int) -> None:
    assert make_tick("ex", "BTCUSDT", 1, ts, None, None, SYMBOLS, NOW).ts_ms == ts


def test_quantity_and_trade_id_ride_on_the_tick() -> None:
    tick = make_tick("ex", "BTCUSDT", "1", NOW, "0.25", 12345, SYMBOLS, NOW)
    assert (tick.quantity, tick.trade_id) == (0.25, "12345")
    assert make_tick("ex", "BTCUSDT", "1", NOW, 2, "a-b", SYMBOLS, NOW).quantity == 2.0


@pytest.mark.parametrize("quantity", [0, -1, "x", math.inf, True, [], "nan"])
def test_bad_quantities(quantity: object) -> None:
    with pytest.raises(InvalidTick) as caught:
        make_tick("ex", "BTCUSDT", "1", NOW, quantity, "1", SYMBOLS, NOW)
    assert caught.value.reason == "bad_quantity"


@pytest.mark.parametrize("trade_id", ["", True, 1.5, [], "x" * 65])
def test_bad_trade_ids(trade_id: object) -> None:
    with pytest.raises(InvalidTick) as caught:
        make_tick("ex", "BTCUSDT", "1", NOW, "1", trade_id, SYMBOLS, NOW)
    assert caught.value.reason == "bad_trade_id"


def test_a_quantity_past_the_bound_is_refused() -> None:
    with pytest.raises(InvalidTick) as caught:
        to_quantity("1e16")
    assert caught.value.reason == "bad_quantity"
