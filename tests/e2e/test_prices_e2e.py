"""Prices through a real gunicorn: the exact answers of tests/service/test_prices.py over real HTTP, and
SIGTERM's flush of the open minute."""

import time
from collections.abc import Callable

import psycopg2

from app.adapters.feeds.wire_line import encode_line
from app.domain.tick import minute_start
from tests.service.test_prices import connected, latest_highest_lowest_average_are_exact
from tests.support.net import LineExchange, wait_for
from tests.support.service import Service


def test_latest_highest_lowest_average_are_exact(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service], exchanges: list[LineExchange]
) -> None:
    latest_highest_lowest_average_are_exact(make_config, start_service, exchanges)


def test_sigterm_flushes_the_open_minute_and_a_restart_adds_to_it(
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
    exchanges: list[LineExchange],
    pg: psycopg2.extensions.connection,
) -> None:
    config = make_config(http={"graceful_timeout": 10})
    minute = minute_start(int(time.time() * 1000))

    def feed_and_stop(prices: list[float], first_ms: int) -> tuple[int, float]:
        service = start_service(config)
        connected(service, exchanges)
        exchanges[0].send(*(encode_line("ETHUSDT", p, minute + first_ms + i) for i, p in enumerate(prices)))
        wait_for(lambda: service.get("/health")[1]["pipeline"]["ticks"] == len(prices), message="ticks in")
        started = time.monotonic()
        code = service.stop()
        return code, time.monotonic() - started

    code, took = feed_and_stop([1.0, 2.0, 3.0], 1)
    assert code == 0
    assert took < 10
    code, _ = feed_and_stop([4.0, 5.0], 10)
    assert code == 0
    with pg.cursor() as cur:
        cur.execute("SELECT average_price, min_price, max_price, sample_count FROM market_data")
        assert cur.fetchall() == [(3.0, 1.0, 5.0, 5)]
