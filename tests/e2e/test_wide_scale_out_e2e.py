"""Two hosts splitting a wide market against the wide Binance (tests/support/wide), then one killed: its shards
move to the other, which recovers over REST what was traded while nobody read them; nothing lost, nothing doubled,
in the API and in the stored minutes."""

import math
import time
from collections.abc import Callable

import psycopg2

from app.domain.tick import minute_start
from tests.support.net import wait_for
from tests.support.service import Service, Starter
from tests.support.wide import wide_exchange

SYMBOLS = [f"S{i:02d}USDT" for i in range(24)]
SHARDS = 4
TTL = 2.0


# What each symbol's count is read from: its trades on the one exchange.
PAIRS = {symbol: f"binance/{symbol}" for symbol in SYMBOLS}


def test_two_hosts_split_a_wide_market_and_a_killed_ones_shards_move_with_nothing_lost_or_doubled(
    make_config: Callable[..., dict], start_service: Starter[Service], pg: psycopg2.extensions.connection
) -> None:
    with wide_exchange("binance") as exchange:
        for symbol in SYMBOLS:
            exchange.list(symbol)
        source = {
            "name": "binance",
            "kind": "binance",
            "url": exchange.url,
            "rest_url": exchange.rest_url,
            "discover": {"quotes": ["USDT"], "refresh_seconds": 5},
            "shards": SHARDS,
            "max_symbols_per_connection": 4,
            "min_connect_interval_seconds": 0.05,
            "ack_timeout_seconds": 3,
        }
        config = make_config(
            http={"workers": 1},
            window={"raw_seconds": 300},
            leases={"ttl_seconds": TTL},
            aggregator={"checkpoint_seconds": 3600.0},
            sources={"live": {"tcp": [], "websocket": [source]}},
        )
        first, second = start_service.together(config, config)
        wait_for(
            lambda: None not in first.owners().values() and len(set(first.owners().values())) == 2,
            timeout=30,
            message="the shards split over both hosts",
        )
        exchange.wait_subscribed(SYMBOLS, timeout=20)

        minute = minute_start(int(time.time() * 1000)) - 60_000  # closed: its rows are stored at once
        prices: dict[str, list[float]] = {symbol: [] for symbol in SYMBOLS}

        def trade_round(k: int) -> None:
            for i, symbol in enumerate(SYMBOLS):
                price = 100.0 + i + k / 4
                exchange.trade(symbol, str(price), minute + 1_000 * k + i)
                prices[symbol].append(price)

        trade_round(1)
        wait_for(lambda: set(first.trade_counts(PAIRS).values()) == {1}, message="the first round in the API")

        dead = second.get("/health")[1]["process"]  # its one worker
        victims = {name for name, owner in first.owners().items() if owner == dead}
        second.crash()  # kill -9 of a whole host
        trade_round(2)  # nobody reads the dead host's shards: these are only in the exchange's history
        wait_for(
            lambda: len(set(first.owners().values())) == 1 and None not in first.owners().values(),
            timeout=TTL * 4 + 10,
            message="every shard read by the surviving host",
        )
        exchange.wait_subscribed(SYMBOLS, timeout=20)
        trade_round(3)  # the first live trade of each moved symbol shows the ids it missed: fetched over REST

        expected = {symbol: 3 for symbol in SYMBOLS}
        wait_for(lambda: first.trade_counts(PAIRS) == expected, timeout=30, message="every trade once, moved or not")
        for symbol in SYMBOLS:
            _, body = first.get(f"/prices/average/binance/{symbol}?period=5m")
            assert math.isclose(body["price"], math.fsum(prices[symbol]) / 3, rel_tol=1e-12)
            assert "partial" not in body, body

        def stored() -> dict[str, tuple]:
            with pg.cursor() as cur:
                cur.execute(
                    "SELECT pair_name, sample_count, min_price, max_price, complete FROM market_data"
                    " WHERE exchange = 'binance' AND timestamp = to_timestamp(%s / 1000.0)",
                    (minute,),
                )
                return {symbol: tuple(rest) for symbol, *rest in cur.fetchall()}

        expected_rows = {symbol: (3, min(p), max(p), True) for symbol, p in prices.items()}
        wait_for(lambda: stored() == expected_rows, timeout=15, message="one complete minute row of 3 per symbol")
        assert len(victims) == SHARDS // 2  # the killed host did read its share
        assert exchange.violations == []
