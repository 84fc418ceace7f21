"""Prices beyond any real asset's are refused at validation, before they reach a sum (in-process)."""

import time
from collections.abc import Callable

from app.adapters.feeds.wire_line import encode_line
from tests.support.net import LineExchange, wait_for
from tests.support.service import ServiceUnderTest

Start = Callable[[dict], ServiceUnderTest]


def feed(service: ServiceUnderTest, exchange: LineExchange, prices: list[float]) -> None:
    exchange.wait_connected()
    now = int(time.time() * 1000)
    exchange.send(*(encode_line("BTCUSDT", price, now - 1000 + i) for i, price in enumerate(prices)))


def source(service: ServiceUnderTest) -> dict:
    return service.get("/health")[1]["sources"][0]


def test_prices_above_the_default_bound_are_rejected_as_bad_price(
    make_config: Callable[..., dict], start_in_process: Start, exchanges: list[LineExchange]
) -> None:
    service = start_in_process(make_config())
    feed(service, exchanges[0], [1e308, 100.0, 1.7e308, 2e12, 200.0, 1e12])
    wait_for(lambda: source(service)["decode_errors"].get("bad_price") == 3, message="3 rejected")
    wait_for(lambda: service.get("/prices/average/exchange1/BTCUSDT")[1].get("count") == 3, message="3 queryable")
    status, average = service.get("/prices/average/exchange1/BTCUSDT")
    # The mean as the decimal it is, to the digits a float sum of three keeps (app/domain/figures.py).
    assert (status, average["count"], average["price"]) == (200, 3, 333333333433.333)
    assert source(service)["ticks"] == 3
    assert service.get("/prices/highest/exchange1/BTCUSDT")[1]["price"] == 1e12


def test_the_bound_is_configurable(
    make_config: Callable[..., dict], start_in_process: Start, exchanges: list[LineExchange]
) -> None:
    service = start_in_process(make_config(sources={"max_price": 1000.0}))
    feed(service, exchanges[0], [1000.5, 999.5, 5000.0])
    wait_for(lambda: source(service)["decode_errors"].get("bad_price") == 2, message="2 rejected")
    wait_for(lambda: service.get("/prices/average/exchange1/BTCUSDT")[1].get("count") == 1, message="1 queryable")
    assert service.get("/prices/average/exchange1/BTCUSDT")[1]["price"] == 999.5
