from app.domain.seen_trades import SeenTrades

T0 = 1_763_712_000_000


def test_a_repeat_is_recognised_per_exchange_and_symbol() -> None:
    seen = SeenTrades(capacity=10)
    assert seen.first_time("binance", "BTCUSDT", "1", T0)
    assert not seen.first_time("binance", "BTCUSDT", "1", T0)
    assert seen.first_time("binance", "ETHUSDT", "1", T0)
    assert seen.first_time("okx", "BTCUSDT", "1", T0)


def test_memory_is_bounded_forgetting_the_oldest_first() -> None:
    seen = SeenTrades(capacity=3)
    for trade_id in "abcd":
        assert seen.first_time("ex", "S", trade_id, T0)
    assert not seen.first_time("ex", "S", "d", T0)
    assert not seen.first_time("ex", "S", "b", T0)
    assert seen.first_time("ex", "S", "a", T0)  # forgotten: the oldest of four with room for three
    recent = seen._pairs[("ex", "S")]
    assert len(recent.ids) == len(recent.order) == 3


def test_trades_older_than_the_horizon_are_forgotten_whatever_the_count() -> None:
    seen = SeenTrades(horizon_ms=60_000, capacity=1_000)
    assert seen.first_time("ex", "S", "a", T0)
    assert seen.first_time("ex", "S", "b", T0 + 30_000)
    assert seen.first_time("ex", "S", "c", T0 + 60_001)  # a is now over a minute older than the newest
    assert not seen.first_time("ex", "S", "b", T0 + 60_001)
    assert seen.first_time("ex", "S", "a", T0)  # forgotten; an old trade (a backfill's) evicts nothing newer
    assert not seen.first_time("ex", "S", "c", T0 + 60_002)
    assert len(seen._pairs[("ex", "S")].ids) == 3
