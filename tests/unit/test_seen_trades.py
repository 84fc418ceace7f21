from app.domain.seen_trades import SeenTrades


def test_a_repeat_is_recognised_per_exchange_and_symbol() -> None:
    seen = SeenTrades(capacity=10)
    assert seen.first_time("binance", "BTCUSDT", "1")
    assert not seen.first_time("binance", "BTCUSDT", "1")
    assert seen.first_time("binance", "ETHUSDT", "1")
    assert seen.first_time("okx", "BTCUSDT", "1")


def test_memory_is_bounded_forgetting_the_oldest_first() -> None:
    seen = SeenTrades(capacity=3)
    for trade_id in "abcd":
        assert seen.first_time("ex", "S", trade_id)
    assert not seen.first_time("ex", "S", "d")
    assert not seen.first_time("ex", "S", "b")
    assert seen.first_time("ex", "S", "a")  # forgotten: the oldest of four with room for three
    recent = seen._pairs[("ex", "S")]
    assert len(recent.ids) == len(recent.order) == 3
