"""The whole market, in-process, against the wide exchanges (tests/support/wide): each keeps its documented
limits and records every breach, so these tests fail on a client that exceeds one.

A listing followed over REST spread over several connections, exact numbers out of the API, ``/health``,
``/symbols`` and PostgreSQL; a listing and a delisting while running; a refused pair shown as refused in
the exchange's words and not asked for again.
"""

import math
import time
from collections.abc import Callable, Iterator

import gevent
import psycopg2
import pytest

from app.adapters.feeds.exchanges import EXCHANGE_KINDS
from app.adapters.feeds.websocket.feed import EMPTIED
from app.domain.iso_instant import iso_ms
from app.domain.tick import minute_start
from tests.support.net import wait_for
from tests.support.service import ServiceUnderTest
from tests.support.wide import WideExchange, wide_exchange

Start = Callable[[dict], ServiceUnderTest]

LISTED = ["ADAUSDT", "AVAXUSDT", "BTCUSDT", "DOGEUSDT", "DOTUSDT", "ETHUSDT", "LINKUSDT", "LTCUSDT", "SOLUSDT"]
PER_CONNECTION = 4


def wide_config(make_config: Callable[..., dict], exchange: WideExchange, **extra: object) -> dict:
    """One WebSocket feed of ``exchange``'s kind, one shard, following its USDT listing, 4 symbols per
    connection."""
    source = {
        "name": exchange.kind,
        "kind": exchange.kind,
        "url": exchange.url,
        "rest_url": exchange.rest_url,
        "discover": {"quotes": ["USDT"], "refresh_seconds": 5},
        "max_symbols_per_connection": PER_CONNECTION,
        "shards": 1,
        "ack_timeout_seconds": 3,
        "min_connect_interval_seconds": 0.05,
        **extra,
    }
    return make_config(sources={"live": {"tcp": [], "websocket": [source]}})


def source_health(service: ServiceUnderTest) -> dict:
    return service.get("/health")[1]["sources"][0]


def pair_counts(service: ServiceUnderTest) -> dict[str, int]:
    """The feed's pairs by state, the states it has any in."""
    return {state: n for state, n in source_health(service)["symbols"].items() if n}


def symbols_page(service: ServiceUnderTest, query: str) -> dict:
    status, body = service.get(f"/symbols?{query}")
    assert status == 200, body
    return body


@pytest.fixture(params=EXCHANGE_KINDS)
def exchange(request: pytest.FixtureRequest) -> Iterator[WideExchange]:
    server = wide_exchange(request.param)
    for symbol in LISTED:
        server.list(symbol)
    server.list("ETHBTC")  # another quote: not followed
    yield server
    server.close()


def test_a_listing_is_spread_over_connections_and_every_trade_counts_once(
    exchange: WideExchange,
    make_config: Callable[..., dict],
    start_in_process: Start,
    pg: psycopg2.extensions.connection,
) -> None:
    kind = exchange.kind
    service = start_in_process(wide_config(make_config, exchange))
    exchange.wait_subscribed(LISTED)
    wait_for(lambda: pair_counts(service) == {"live": len(LISTED)}, message="every pair live")

    # 9 symbols, 4 a connection: 3 connections, each symbol on exactly one.
    connections = exchange.connections()
    assert len(connections) == 3
    assert all(len(c.symbols) <= PER_CONNECTION for c in connections)
    assert sorted(s for c in connections for s in c.symbols) == LISTED
    health = source_health(service)
    assert (health["connections_open"], health["connections"]) == (3, 3)
    assert health["listing"]["symbols"] == len(LISTED)

    # Two trades a symbol in a closed minute (stored at once), one in this one: all exact, none twice.
    now = int(time.time() * 1000)
    minute = minute_start(now) - 60_000
    recent = max(now - 500, minute_start(now))  # in this minute, however early in it the test runs
    prices = {symbol: (10.0 + i, 20.5 + i, 15.25 + i) for i, symbol in enumerate(LISTED)}
    for symbol, (first, second, last) in prices.items():
        exchange.trade(symbol, str(first), minute + 1_000)
        exchange.trade(symbol, str(second), minute + 2_000)
        exchange.trade(symbol, str(last), recent)

    def average(symbol: str) -> dict:
        return service.get(f"/prices/average/{kind}/{symbol}?period=5m")[1]

    wait_for(lambda: all(average(s).get("count") == 3 for s in LISTED), message="every trade queryable")
    for symbol, (first, second, last) in prices.items():
        assert average(symbol)["price"] == pytest.approx((first + second + last) / 3, rel=1e-12)
        assert service.get(f"/prices/latest/{kind}/{symbol}")[1] == {
            "symbol": symbol,
            "exchange": kind,
            "price": last,
            "timestamp": iso_ms(recent),
        }
        assert service.get(f"/prices/highest/{kind}/{symbol}?period=5m")[1]["price"] == second
        assert service.get(f"/prices/lowest/{kind}/{symbol}?period=5m")[1]["price"] == first

    def stored() -> dict[str, tuple]:
        with pg.cursor() as cur:
            cur.execute(
                "SELECT pair_name, sample_count, min_price, max_price, average_price FROM market_data"
                " WHERE exchange = %s AND timestamp = to_timestamp(%s / 1000.0)",
                (kind, minute),
            )
            return {symbol: rest for symbol, *rest in cur.fetchall()}

    rows = wait_for(lambda: len(stored()) == len(LISTED) and stored(), message="a minute row per symbol")
    for symbol, (first, second, _) in prices.items():
        count, low, high, mean = rows[symbol]
        assert (count, low, high) == (2, first, second)
        assert math.isclose(mean, (first + second) / 2, rel_tol=1e-12)

    page = wait_for(
        lambda: (
            (body := symbols_page(service, f"exchange={kind}"))["symbols"]
            and all(row["ticks"] == 3 for row in body["symbols"])
            and body
        ),
        message="/symbols counts every trade",
    )
    assert page["total"] == len(LISTED)
    assert [row["symbol"] for row in page["symbols"]] == LISTED
    assert {row["state"] for row in page["symbols"]} == {"live"}
    assert {row["last_tick_at"] for row in page["symbols"]} == {iso_ms(recent)}
    assert exchange.violations == []


def test_listings_and_delistings_are_followed_while_running(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    with wide_exchange("bybit") as exchange:
        for symbol in LISTED:
            exchange.list(symbol)
        service = start_in_process(wide_config(make_config, exchange))
        exchange.wait_subscribed(LISTED)

        exchange.list("NEWUSDT")
        exchange.delist("DOGEUSDT")
        # The next refresh (5 s) subscribes the new pair and unsubscribes the delisted one.
        wait_for(lambda: "NEWUSDT" in exchange.subscribed() and "DOGEUSDT" not in exchange.subscribed(), 15)
        now = int(time.time() * 1000)
        exchange.trade("NEWUSDT", "1.5", now)
        wait_for(lambda: service.get("/prices/latest/bybit/NEWUSDT")[1].get("price") == 1.5, message="new pair")

        def states() -> dict[str, str]:
            return {row["symbol"]: row["state"] for row in symbols_page(service, "exchange=bybit")["symbols"]}

        wait_for(lambda: states().get("DOGEUSDT") == "delisted" and states().get("NEWUSDT") == "live")
        page = symbols_page(service, "state=delisted")
        assert page["total"] == 1
        row = page["symbols"][0]
        assert row.pop("since") >= iso_ms(now - 10_000)
        assert row == {
            "exchange": "bybit",
            "symbol": "DOGEUSDT",
            "state": "delisted",
            "detail": "",
            "last_tick_at": None,
            "ticks": 0,
        }
        assert pair_counts(service) == {"live": len(LISTED), "delisted": 1}
        assert exchange.violations == []


def test_a_refused_pair_shows_the_exchanges_words_and_is_not_asked_for_again(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    with wide_exchange("bybit") as exchange:
        exchange.list("BTCUSDT")
        exchange.list("ETHUSDT")
        config = wide_config(make_config, exchange, symbols=["BTCUSDT", "ETHUSDT", "XRPUSDT"])
        del config["sources"]["live"]["websocket"][0]["discover"]
        config["symbols"] = ["BTCUSDT", "ETHUSDT", "XRPUSDT"]
        service = start_in_process(config)
        exchange.wait_subscribed(["BTCUSDT", "ETHUSDT"])

        row = wait_for(lambda: symbols_page(service, "state=refused")["symbols"], message="the refusal shown")[0]
        assert (row["exchange"], row["symbol"]) == ("bybit", "XRPUSDT")
        assert row["detail"] == "Invalid symbol :[publicTrade.XRPUSDT]"
        wait_for(lambda: pair_counts(service) == {"live": 2, "refused": 1}, message="counted")
        # The rest of the refused request is asked for on its own, and Bybit says it holds them already.
        assert [r.reason for r in exchange.refusals if "XRPUSDT" in r.topic] == [
            "Invalid symbol :[publicTrade.XRPUSDT]"
        ]
        refusals = len(exchange.refusals)

        # Connections dropped: the live pairs are asked for again, the refused one is not.
        exchange.drop_connections()
        wait_for(lambda: source_health(service)["reconnects"] >= 1, message="reconnected")
        exchange.wait_subscribed(["BTCUSDT", "ETHUSDT"])
        wait_for(lambda: pair_counts(service) == {"live": 2, "refused": 1}, message="live again")
        assert len(exchange.refusals) == refusals
        assert not any("XRPUSDT" in request for c in exchange.connections() for request in c.requests)
        assert exchange.violations == []


def test_a_connection_whose_every_pair_is_refused_is_closed_and_not_opened_again(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    with wide_exchange("bybit") as exchange:
        exchange.list("BTCUSDT")
        config = wide_config(make_config, exchange, symbols=["BTCUSDT", "XRPUSDT"], max_symbols_per_connection=1)
        del config["sources"]["live"]["websocket"][0]["discover"]
        config["symbols"] = ["BTCUSDT", "XRPUSDT"]
        service = start_in_process(config)
        exchange.wait_subscribed(["BTCUSDT"])
        wait_for(lambda: pair_counts(service) == {"live": 1, "refused": 1}, message="the refusal counted")
        # The connection that held XRPUSDT alone has nothing left to read: closed, and the feed keeps one.
        wait_for(lambda: len(exchange.connections()) == 1, message="the emptied connection closed")
        wait_for(lambda: source_health(service)["connections"] == 1, message="one connection shown")
        assert [c.symbols for c in exchange.connections()] == [frozenset({"BTCUSDT"})]
        assert (source_health(service)["state"], source_health(service)["last_error"]) == ("connected", EMPTIED)
        gevent.sleep(1.0)  # a reconnect of the closed one would have come by now (backoff from 0.5 s)
        assert len(exchange.connections()) == 1
        assert exchange.violations == []
