"""Mode switching, degraded startup and error handling of the service, in-process.

Through gunicorn, mode switches are checked across processes (tests/e2e/test_shared_control_e2e.py) and
from the dashboard, and the errors the server answers itself (a request line over 4 KiB: 414) by
tests/e2e/test_hostile_clients_e2e.py."""

import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from app.adapters.feeds.wire_line import encode_line
from app.domain.iso_instant import iso_ms
from tests.support.net import LineExchange, free_port, wait_for
from tests.support.service import ServiceUnderTest
from tests.support.throwaway import RedisServer

Start = Callable[[dict], ServiceUnderTest]


def test_switching_modes_swaps_the_sources_and_repeating_is_harmless(
    make_config: Callable[..., dict],
    start_in_process: Start,
    exchanges: list[LineExchange],
) -> None:
    service = start_in_process(make_config(mode="test"))
    assert service.get("/mode") == (
        200,
        {"mode": "test", "exchanges": ["test-exchange1", "test-exchange2", "test-exchange3"]},
    )
    for name in ("test-exchange1", "test-exchange2", "test-exchange3"):
        wait_for(lambda n=name: service.get(f"/prices/latest/{n}/BTCUSDT")[0] == 200, message=f"{name} price")
    assert service.get("/prices/latest/BTCUSDT")[1]["exchange"].startswith("test-exchange")
    assert not any(exchange.connections for exchange in exchanges)

    status, body = service.post("/mode/live")
    assert (status, body["mode"], body["changed"]) == (200, "live", True)
    for exchange in exchanges:
        exchange.wait_connected()
    now = int(time.time() * 1000)
    exchanges[1].send(encode_line("SOLUSDT", 181.25, now))
    wait_for(lambda: service.get("/prices/latest/SOLUSDT")[1].get("price") == 181.25, message="live price")
    assert service.get("/prices/latest/SOLUSDT")[1]["exchange"] == "exchange2"
    assert service.post("/mode/live")[1]["changed"] is False
    assert sum(exchange.connections for exchange in exchanges) == 3
    # Synthetic history stays under its own names; live answers never mix it in.
    assert service.get("/prices/latest/test-exchange1/BTCUSDT")[0] == 200

    assert service.post("/mode/test")[1] == {
        "mode": "test",
        "changed": True,
        "exchanges": ["test-exchange1", "test-exchange2", "test-exchange3"],
    }
    health = service.get("/health")[1]
    assert health["mode"] == "test"
    assert [s["name"] for s in health["sources"]] == ["test-exchange1", "test-exchange2", "test-exchange3"]


def test_starts_without_redis_and_postgres_and_reads_feeds_once_redis_appears(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    """A feed needs a lease, and a lease needs Redis: until it appears nobody reads, so nothing is read twice."""
    cache = RedisServer()  # not started yet
    config = make_config(
        mode="test",
        redis={"url": cache.url},
        postgres={"dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/none"},
    )
    service = start_in_process(config)
    try:
        status, health = service.get("/health")
        assert status == 200
        assert health["status"] == "degraded"
        assert health["redis"]["status"] == "down"
        assert health["postgres"]["status"] == "down"
        assert "Connection refused" in health["redis"]["error"] or "Error" in health["redis"]["error"]
        assert [source["owner"] for source in health["sources"]] == [None, None, None]
        assert service.get("/prices/latest/BTCUSDT")[0] == 404
        cache.start()
        body = wait_for(lambda: service.get("/prices/average/BTCUSDT?period=10s")[1].get("count"), message="prices")
        assert body > 0
        assert service.get("/prices/latest/btcusdt")[1]["exchange"].startswith("test-exchange")
        assert service.get("/health")[1]["postgres"]["status"] == "down"  # PostgreSQL is not needed to read
    finally:
        cache.kill()


def test_health_and_metrics_show_the_history_kept(make_config: Callable[..., dict], start_in_process: Start) -> None:
    """The upkeep's first round runs at start: partitions made ahead, the oldest kept of each tier shown."""
    service = start_in_process(make_config(retention={"minutes_days": 3, "hours_days": 30}))
    wait_for(lambda: service.get("/health")[1]["history"]["minutes"]["oldest"], message="a round of upkeep")
    history = service.get("/health")[1]["history"]
    midnight = iso_ms(int(time.time() * 1000) // 86_400_000 * 86_400_000)
    three_days_back = iso_ms((int(time.time() * 1000) // 86_400_000 - 3) * 86_400_000)
    # Whatever the shared test database held before, nothing older than the retention is shown kept.
    assert (history["minutes"]["kept_days"], set(history["minutes"])) == (3, {"kept_days", "oldest"})
    assert three_days_back <= history["minutes"]["oldest"] <= midnight
    assert (history["hours"]["kept_days"], history["days"]["kept_days"], history["error"]) == (30, 0, None)
    metrics = service.request("GET", "/metrics").body.decode()
    assert "marketflow_history_partitions_created_total{" in metrics
    assert 'marketflow_history_oldest_partition_timestamp_seconds{process="' in metrics


def test_malformed_feed_lines_are_counted_and_the_feed_goes_on(
    make_config: Callable[..., dict],
    start_in_process: Start,
    exchanges: list[LineExchange],
) -> None:
    service = start_in_process(make_config(sources={"live": {"max_line_bytes": 200}}))
    exchanges[0].wait_connected()
    now = int(time.time() * 1000)
    exchanges[0].send(
        b"not json",
        b'{"symbol":"BTCUSDT","price":0,"timestamp":1}',
        b'{"symbol":"BTCUSDT","price":"NaN","timestamp":1763712000000}',
        b'{"symbol":"XRPUSDT","price":1,"timestamp":1763712000000}',
        b"x" * 500,
        b'{"symbol":"BTCUSDT","price":5,"timestamp":4102444800000}',
        encode_line("BTCUSDT", 77.5, now),
        # Odd but valid: a string price and timestamp with an extra field, seconds, ISO 8601.
        b'{"symbol":"ETHUSDT","price":"3500.5","timestamp":"%d","venue":"x"}' % now,
        b'{"symbol":"SOLUSDT","price":181,"timestamp":%d}' % (now // 1000),
        b'{"symbol":"TONUSDT","price":5.25,"timestamp":"%s"}' % iso_ms(now).encode(),
    )
    wait_for(lambda: service.get("/prices/latest/exchange1/TONUSDT")[1].get("price") == 5.25, message="good lines")
    assert service.get("/prices/latest/exchange1/BTCUSDT")[1]["price"] == 77.5
    assert service.get("/prices/latest/exchange1/ETHUSDT")[1] == {
        "symbol": "ETHUSDT",
        "exchange": "exchange1",
        "price": 3500.5,
        "timestamp": iso_ms(now),
    }
    assert service.get("/prices/latest/exchange1/SOLUSDT")[1]["timestamp"] == iso_ms(now // 1000 * 1000)
    assert service.get("/prices/latest/exchange1/TONUSDT")[1]["timestamp"] == iso_ms(now)
    source = service.get("/health")[1]["sources"][0]
    assert source["name"] == "exchange1"
    assert source["decode_errors"] == {
        "invalid_json": 1,
        "bad_price": 2,
        "unknown_symbol": 1,
        "line_too_long": 1,
        "timestamp_out_of_range": 1,
    }
    assert source["state"] == "connected"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/prices/average/BTCUSDT?period=abc", 400, "invalid period 'abc'"),
        ("GET", "/prices/highest/BTCUSDT?period=-5s", 400, "invalid period"),
        ("GET", "/prices/highest/BTCUSDT?period=0s", 400, "greater than zero"),
        ("GET", "/prices/highest/BTCUSDT?period=%D9%A1m", 400, "invalid period"),
        ("GET", "/prices/highest/BTCUSDT?period=%EF%BC%91m", 400, "invalid period"),
        ("GET", "/prices/highest/BTCUSDT?period=%201m%20", 400, "invalid period"),
        ("GET", "/prices/lowest/BTCUSDT?period=99999999h", 400, "longer than 366 days"),
        ("GET", "/prices/lowest/BTCUSDT?period=" + "9" * 2_000, 400, "invalid period"),
        ("GET", "/prices/latest/NOPEUSDT", 404, "unknown symbol 'NOPEUSDT'"),
        ("GET", "/prices/latest/nasdaq/BTCUSDT", 404, "unknown exchange 'nasdaq'"),
        ("GET", "/prices/median/BTCUSDT", 404, "not found"),
        ("GET", "/prices/latest/a/b/c", 404, "not found"),
        ("POST", "/prices/latest/BTCUSDT", 405, "not allowed"),
        ("GET", "/mode/live", 405, "not allowed"),
        ("POST", "/mode/paper", 404, "unknown mode 'paper'"),
    ],
)
def test_bad_requests_get_a_json_4xx(client: FlaskClient, method: str, path: str, status: int, error: str) -> None:
    response = client.open(path, method=method)
    body = response.get_json()
    assert response.status_code == status
    assert error.lower() in body["error"].lower()
    assert set(body) == {"error"}


@pytest.mark.parametrize("body", ["{bad", "[1]", '{"mode": "live"}', "null"])
def test_a_mode_switch_with_a_body_meant_for_something_else_changes_nothing(client: FlaskClient, body: str) -> None:
    response = client.post("/mode/live", data=body, content_type="application/json")
    assert (response.status_code, response.get_json()) == (400, {"error": "a mode switch takes no body (or {})"})
    assert client.get("/mode").get_json()["mode"] == "test"
    # No body (blank space is none), or an empty object, is a switch.
    assert client.post("/mode/test", data="{}", content_type="application/json").status_code == 200
    assert client.post("/mode/test", data="\n", content_type="application/json").status_code == 200
    assert client.post("/mode/test").status_code == 200


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/mode", ["GET", "HEAD", "OPTIONS"]),
        ("/mode/live", ["OPTIONS", "POST"]),
        ("/prices/latest/BTCUSDT", ["GET", "HEAD", "OPTIONS"]),
        ("/proxy/set-static", ["OPTIONS", "POST"]),
    ],
)
def test_options_answers_json(client: FlaskClient, path: str, methods: list[str]) -> None:
    response = client.options(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Allow"] == ", ".join(methods)
    assert response.get_json() == {"methods": methods}
