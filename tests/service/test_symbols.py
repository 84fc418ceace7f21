"""``GET /symbols`` in test mode, in-process: every pair of the synthetic exchanges, searched, filtered and paged;
what it can't answer is a 4xx in words. Exact counts from real exchanges: tests/service/test_wide_market.py."""

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.support.net import wait_for
from tests.support.service import ServiceUnderTest

Start = Callable[[dict], ServiceUnderTest]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
EXCHANGES = ["test-a", "test-b"]


@pytest.fixture
def service(make_config: Callable[..., dict], start_in_process: Start) -> ServiceUnderTest:
    config = make_config(mode="test", symbols=SYMBOLS, sources={"test": {"exchanges": EXCHANGES}})
    service = start_in_process(config)
    wait_for(lambda: service.get("/symbols")[1]["total"] == 6, message="every pair published")
    return service


def pairs(service: ServiceUnderTest, query: str) -> list[tuple[str, str]]:
    status, body = service.get(f"/symbols?{query}")
    assert status == 200, body
    return [(row["exchange"], row["symbol"]) for row in body["symbols"]]


def test_every_pair_is_listed_by_exchange_then_symbol_with_its_state_and_trades(service: ServiceUnderTest) -> None:
    def page() -> dict:
        return service.get("/symbols")[1]

    body = wait_for(lambda: all(row["ticks"] > 0 for row in page()["symbols"]) and page(), message="trades counted")
    assert body["total"] == 6
    assert [(row["exchange"], row["symbol"]) for row in body["symbols"]] == [
        (exchange, symbol) for exchange in EXCHANGES for symbol in ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    ]
    for row in body["symbols"]:
        assert row["state"] == "live"
        assert row["detail"] == ""
        assert row["since"] <= row["last_tick_at"]
    assert "partial" not in body


def test_search_filters_and_pages(service: ServiceUnderTest) -> None:
    assert pairs(service, "q=eth") == [("test-a", "ETHUSDT"), ("test-b", "ETHUSDT")]
    assert pairs(service, "exchange=TEST-B&q=usdt") == [("test-b", s) for s in SYMBOLS]
    assert pairs(service, "state=live&limit=2&offset=3") == [("test-b", "BTCUSDT"), ("test-b", "ETHUSDT")]
    assert service.get("/symbols?limit=2&offset=5")[1]["total"] == 6
    assert pairs(service, "offset=6") == []
    assert service.get("/symbols?state=refused")[1] == {"total": 0, "symbols": []}


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("limit=0", 400, "limit must be from 1 to 1000, got 0"),
        ("limit=1001", 400, "limit must be from 1 to 1000, got 1001"),
        ("limit=-1", 400, "invalid limit '-1': digits only, a whole number from 0"),
        ("offset=-1", 400, "invalid offset '-1': digits only, a whole number from 0"),
        ("offset=x", 400, "invalid offset 'x': digits only, a whole number from 0"),
        ("state=gone", 400, "state must be one of subscribing, live, silent, refused, delisted, got 'gone'"),
        ("q=BTC-USDT", 400, "invalid q 'BTC-USDT': up to 40 letters and digits"),
        ("exchange=nowhere", 404, "unknown exchange 'nowhere'"),
    ],
)
def test_a_request_it_cant_answer_is_a_4xx_in_words(query: str, status: int, error: str, client: FlaskClient) -> None:
    response = client.get(f"/symbols?{query}")
    assert (response.status_code, response.get_json()) == (status, {"error": error})
