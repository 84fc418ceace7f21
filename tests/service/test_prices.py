"""Known ticks in over TCP, exact numbers out of the HTTP API and PostgreSQL, in-process.

The first scenario also runs through gunicorn (tests/e2e/test_prices_e2e.py): the same answers over real
HTTP from a real worker.
"""

import time
from collections.abc import Callable

import psycopg2

from app.adapters.feeds.wire_line import encode_line
from app.domain.iso_instant import iso_ms
from app.domain.tick import minute_start
from tests.support.net import LineExchange, wait_for
from tests.support.service import ServiceUnderTest

Start = Callable[[dict], ServiceUnderTest]


def connected(service: ServiceUnderTest, exchanges: list[LineExchange]) -> None:
    """Every feed read by this service: connected, and its owner one of its processes."""
    for exchange in exchanges:
        exchange.wait_connected()

    def up() -> bool:
        health = service.get("/health")[1]
        here = {p["id"] for p in health["processes"] if p["id"] == health["process"]}
        return all(s["state"] == "connected" and s["owner"] in here for s in health["sources"])

    wait_for(up, message="sources up")


def answer(service: ServiceUnderTest, path: str) -> tuple[int, dict]:
    """A window answer without its ``from`` and ``to`` (which depend on the moment it was asked)."""
    status, body = service.get(path)
    if status == 200:
        assert body.pop("from") <= body.pop("to")
    return status, body


def count(service: ServiceUnderTest, path: str) -> int:
    status, body = service.get(path)
    return body["count"] if status == 200 else 0


def latest_highest_lowest_average_are_exact(
    make_config: Callable[..., dict], start: Start, exchanges: list[LineExchange]
) -> None:
    service = start(make_config())
    connected(service, exchanges)
    now = int(time.time() * 1000)
    ex1, ex2, ex3 = exchanges
    ex1.send(encode_line("BTCUSDT", 100.5, now - 5000), encode_line("BTCUSDT", 102.25, now - 3000))
    ex2.send(encode_line("btcusdt", 99.75, now - 4000), encode_line("ETHUSDT", 3500.0, now - 4000))
    ex3.send(encode_line("BTCUSDT", 101.0, now - 2000))
    wait_for(lambda: count(service, "/prices/average/BTCUSDT?period=1m") == 4, message="4 ticks queryable")

    assert service.get("/prices/latest/BTCUSDT") == (
        200,
        {"symbol": "BTCUSDT", "exchange": "exchange3", "price": 101.0, "timestamp": iso_ms(now - 2000)},
    )
    assert service.get("/prices/latest/exchange1/btcusdt") == (
        200,
        {"symbol": "BTCUSDT", "exchange": "exchange1", "price": 102.25, "timestamp": iso_ms(now - 3000)},
    )
    assert answer(service, "/prices/highest/BTCUSDT?period=1m") == (
        200,
        {
            "symbol": "BTCUSDT",
            "exchange": "exchange1",
            "price": 102.25,
            "timestamp": iso_ms(now - 3000),
            "period": "1m",
        },
    )
    assert answer(service, "/prices/lowest/BTCUSDT?period=30s") == (
        200,
        {
            "symbol": "BTCUSDT",
            "exchange": "exchange2",
            "price": 99.75,
            "timestamp": iso_ms(now - 4000),
            "period": "30s",
        },
    )
    assert answer(service, "/prices/average/BTCUSDT?period=1m") == (
        200,
        {"symbol": "BTCUSDT", "exchange": "all", "price": 100.875, "count": 4, "period": "1m"},
    )
    assert answer(service, "/prices/average/Exchange1/BTCUSDT") == (
        200,
        {"symbol": "BTCUSDT", "exchange": "exchange1", "price": 101.375, "count": 2, "period": "1m"},
    )
    assert service.get("/prices/lowest/exchange3/BTCUSDT?period=10s")[1]["price"] == 101.0
    assert service.get("/prices/average/exchange2/ETHUSDT")[1]["count"] == 1
    # Every tick is at least 2 s old by now: a 1 s window is empty.
    assert service.get("/prices/highest/BTCUSDT?period=1s") == (
        404,
        {"error": "no ticks for BTCUSDT in the last 1s"},
    )


def test_latest_highest_lowest_average_are_exact(
    make_config: Callable[..., dict], start_in_process: Start, exchanges: list[LineExchange]
) -> None:
    latest_highest_lowest_average_are_exact(make_config, start_in_process, exchanges)


def test_closed_minutes_land_in_postgres_and_long_periods_combine_them(
    make_config: Callable[..., dict],
    start_in_process: Start,
    exchanges: list[LineExchange],
    pg: psycopg2.extensions.connection,
) -> None:
    service = start_in_process(make_config())
    connected(service, exchanges)
    now = int(time.time() * 1000)
    old = minute_start(now) - 3 * 60_000  # closed long ago, beyond the 60 s raw window
    ex1, ex2, _ = exchanges
    ex1.send(*(encode_line("BTCUSDT", p, old + 1000 * i) for i, p in enumerate([10.0, 30.0, 20.0])))
    ex2.send(encode_line("BTCUSDT", 40.0, old + 5000))
    ex1.send(encode_line("BTCUSDT", 50.0, now - 1000))

    def stored() -> list[tuple]:
        """The old minute's rows (checkpoints may also have written the current minute's)."""
        with pg.cursor() as cur:
            cur.execute(
                "SELECT pair_name, exchange, (extract(epoch FROM timestamp) * 1000)::bigint, average_price,"
                " min_price, max_price, sample_count FROM market_data"
                " WHERE timestamp = to_timestamp(%s / 1000.0) ORDER BY exchange",
                (old,),
            )
            return cur.fetchall()

    rows = wait_for(lambda: len(stored()) == 2 and stored(), message="two minute rows")
    assert rows == [
        ("BTCUSDT", "exchange1", old, 20.0, 10.0, 30.0, 3),
        ("BTCUSDT", "exchange2", old, 40.0, 40.0, 40.0, 1),
    ]
    wait_for(lambda: count(service, "/prices/average/BTCUSDT?period=10m") == 5, message="5 ticks in 10m")
    assert answer(service, "/prices/average/BTCUSDT?period=10m") == (
        200,
        {"symbol": "BTCUSDT", "exchange": "all", "price": 30.0, "count": 5, "period": "10m"},
    )
    assert answer(service, "/prices/lowest/BTCUSDT?period=10m")[1] == {
        "symbol": "BTCUSDT",
        "exchange": "exchange1",
        "price": 10.0,
        "timestamp": iso_ms(old),
        "period": "10m",
    }
    assert service.get("/prices/highest/exchange2/BTCUSDT?period=1h")[1]["price"] == 40.0
    # Within the raw window only the recent tick counts.
    assert answer(service, "/prices/average/BTCUSDT?period=1m")[1]["count"] == 1
