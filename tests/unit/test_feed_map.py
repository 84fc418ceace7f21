"""Which feed reads a symbol: the same in every process, and never moved by another symbol's listing."""

from hypothesis import given
from hypothesis import strategies as st

from app.domain.feed_map import FeedMap, shard_of

SYMBOLS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=12)


def test_an_exchange_with_one_shard_is_one_feed_named_as_it() -> None:
    feeds = FeedMap({"binance": 4, "okx": 1})
    assert feeds.feeds_of("okx") == ["okx"]
    assert feeds.feed_of("okx", "BTCUSDT") == "okx"
    assert feeds.feed_of("exchange1", "BTCUSDT") == "exchange1"  # not listed: one shard
    assert feeds.feeds_of("binance") == ["binance/0", "binance/1", "binance/2", "binance/3"]
    assert feeds.exchange_of("binance/3") == "binance"
    assert feeds.exchange_of("okx") == "okx"


def test_the_shard_of_a_symbol_is_fixed_across_versions() -> None:
    # Pinned: a symbol's shard decides which lease, fence and Redis mark it is under in every process.
    assert [shard_of(symbol, 8) for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "TONUSDT")] == [
        2,
        2,
        6,
        1,
        4,
    ]
    assert FeedMap({"binance": 8}).feed_of("binance", "SOLUSDT") == "binance/6"


@given(st.lists(SYMBOLS, min_size=1, max_size=200, unique=True), st.integers(min_value=2, max_value=64))
def test_shards_depend_on_the_symbol_alone_and_cover_the_feeds(symbols: list[str], shards: int) -> None:
    feeds = FeedMap({"ex": shards})
    every = feeds.feeds_of("ex")
    before = {symbol: feeds.feed_of("ex", symbol) for symbol in symbols}
    assert set(before.values()) <= set(every)
    # Another map built in another process, after listings and delistings: nobody moved.
    again = FeedMap({"ex": shards})
    assert {symbol: again.feed_of("ex", symbol) for symbol in reversed(symbols)} == before
