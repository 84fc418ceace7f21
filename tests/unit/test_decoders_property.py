"""Property-based: no input escapes a decoder as anything but ``InvalidTick``, and valid trades survive."""

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.feeds.exchanges import EXCHANGES
from app.adapters.feeds.exchanges.base import ExchangeProtocol
from app.adapters.feeds.wire_line import decode_line, encode_line
from app.domain.errors import InvalidTick
from app.domain.validation import make_tick
from tests.support.exchange_servers import binance_trade, bybit_trades, coinbase_trades, kraken_trades, okx_trades

SYMBOLS = ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]
NOW = 1_763_712_000_000
PROTOCOL_OBJECTS: list[ExchangeProtocol] = [cls(SYMBOLS) for cls in EXCHANGES.values()]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
# Objects shaped like the real messages, with arbitrary values in the places that matter.
shaped = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in (
            *("symbol", "price", "timestamp", "e", "s", "p", "T", "data", "topic", "arg", "event", "result", "id"),
            *("t", "q", "v", "i", "sz", "tradeId", "qty", "trade_id", "size"),
            *("channel", "events", "type", "method", "success"),
        )
    },
)


def every_decoder(raw: bytes) -> None:
    decoders = [decode_line, *(p.decode for p in PROTOCOL_OBJECTS)]
    for decode in decoders:
        with contextlib.suppress(InvalidTick):
            for decoded in decode(raw):
                if not isinstance(decoded, InvalidTick):
                    with contextlib.suppress(InvalidTick):
                        make_tick("x", *decoded, frozenset(SYMBOLS), NOW)
    for protocol in PROTOCOL_OBJECTS:
        with contextlib.suppress(InvalidTick):
            protocol.control(raw.decode("utf-8", "replace"))


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    every_decoder(raw)


@settings(max_examples=300)
@given(json_values | shaped)
def test_arbitrary_json(value: object) -> None:
    every_decoder(json.dumps(value).encode())


prices = st.decimals(min_value="0.00000001", max_value="1000000", places=8).map(lambda d: format(d.normalize(), "f"))
trades = st.lists(
    st.tuples(prices, st.integers(min_value=NOW - 86_400_000, max_value=NOW)).filter(lambda t: float(t[0]) > 0),
    min_size=1,
    max_size=5,
)


@given(st.sampled_from(SYMBOLS), trades)
def test_valid_trades_come_out_exactly(symbol: str, batch: list[tuple[str, int]]) -> None:
    symbols = frozenset(SYMBOLS)
    expected = [(symbol, float(price), ts, 0.001) for price, ts in batch]

    def decoded(protocol: str, messages: list[str]) -> list[tuple[str, float, int, float | None]]:
        decode = EXCHANGES[protocol](SYMBOLS).decode
        out = []
        for message in messages:
            assert EXCHANGES[protocol](SYMBOLS).control(message) is None
            for fields in decode(message.encode()):
                tick = make_tick(protocol, *fields, symbols, NOW)
                assert tick.trade_id
                out.append((tick.symbol, tick.price, tick.ts_ms, tick.quantity))
        return out

    assert decoded("binance", [binance_trade(symbol, p, ts) for p, ts in batch]) == expected
    assert decoded("bybit", [bybit_trades(symbol, batch)]) == expected
    assert decoded("okx", [okx_trades(f"{symbol[:-4]}-{symbol[-4:]}", batch)]) == expected
    assert decoded("coinbase", [coinbase_trades(f"{symbol[:-4]}-{symbol[-4:]}", batch)]) == expected
    assert decoded("kraken", [kraken_trades(f"{symbol[:-4]}/{symbol[-4:]}", batch)]) == expected
    lines = [encode_line(symbol, float(p), ts) for p, ts in batch]
    got = []
    for line in lines:
        for fields in decode_line(line):
            tick = make_tick("x", *fields, symbols, NOW)
            assert tick.trade_id is None
            got.append((tick.symbol, tick.price, tick.ts_ms, None))
    assert got == [(*trade[:3], None) for trade in expected]
