"""Live feeds through real proxies on loopback: tinyproxy (HTTP CONNECT) and dante (SOCKS5).

The exchange stand-ins record the peer address of every connection, and each
proxy connects out from its own loopback address, so "went through a proxy"
and "went direct" are facts the tests can check, not guesses.
"""

import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.adapters.feeds.wire_line import encode_line
from tests.support.exchange_servers import FakeExchange, binance_trade
from tests.support.net import LineExchange, free_port, wait_for
from tests.support.proxies import DIRECT_PEER, Dante, TinyProxy
from tests.support.service import Service

SECRET = "s3cret-Pa55"


@pytest.fixture
def binance() -> Iterator[FakeExchange]:
    server = FakeExchange("binance")
    yield server
    server.close()


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[TinyProxy]:
    proxy = TinyProxy(tmp_path, credentials=("mfuser", SECRET)).start()
    yield proxy
    proxy.kill()


@pytest.fixture
def dante(tmp_path: Path) -> Iterator[Dante]:
    proxy = Dante(tmp_path).start()
    yield proxy
    proxy.kill()


def proxied_feed(exchange: FakeExchange) -> dict:
    """A live feed of BTCUSDT from a loopback stand-in, named as its kind, quick to connect and reconnect."""
    return {
        "name": exchange.kind,
        "kind": exchange.kind,
        "url": exchange.url,
        "symbols": ["BTCUSDT"],
        "silence_timeout_seconds": 30,
        "ack_timeout_seconds": 3,
        "min_connect_interval_seconds": 0.2,
        "connect_timeout_seconds": 3,
        "rest_url": "http://127.0.0.1:9",  # nothing listens: no history, never leaving loopback
    }


def config(make_config: Callable[..., dict], exchange: FakeExchange, proxy: dict, tcp: list | None = None) -> dict:
    live = {
        "tcp": tcp or [],
        "websocket": [proxied_feed(exchange)],
        "reconnect_initial_seconds": 0.1,
        "reconnect_max_seconds": 0.3,
    }
    return make_config(sources={"live": live}, proxy=proxy)


def price_arrives(service: Service, exchange: FakeExchange, price: str) -> None:
    exchange.send(binance_trade("BTCUSDT", price, int(time.time() * 1000)))
    wait_for(lambda: service.get("/prices/latest/binance/BTCUSDT")[1].get("price") == float(price), message=price)


def assert_no_secret(service: Service) -> None:
    for path in ("/proxy/status", "/health"):
        assert SECRET not in json.dumps(service.get(path)[1])
    assert SECRET not in service.logs()


def test_proxy_only_sends_every_connection_through_the_proxy(
    binance: FakeExchange,
    tinyproxy: TinyProxy,
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
) -> None:
    proxy = {"enabled": True, "mode": "static", "policy": "only", "proxies": [tinyproxy.url]}
    service = start_service(config(make_config, binance, proxy))
    binance.wait_subscribed()
    price_arrives(service, binance, "96001.5")
    binance.drop_clients()  # reconnects must go through the proxy too
    binance.wait_subscribed(2)
    price_arrives(service, binance, "96002.5")
    assert binance.peers == [tinyproxy.peer, tinyproxy.peer]
    status = service.get("/proxy/status")[1]
    masked = f"http://mfuser:***@127.0.0.1:{tinyproxy.port}"
    assert status == {
        "enabled": True,
        "mode": "static",
        "policy": "only",
        "proxies": [masked],
        "static": masked,
        "routes": {"binance": masked},
        "failures": {},
        "benched": [],
    }
    assert_no_secret(service)


def test_proxy_only_never_goes_direct_even_when_every_proxy_is_down(
    binance: FakeExchange, tmp_path: Path, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    dead = [free_port(), free_port()]
    proxy = {
        "enabled": True,
        "mode": "rotating",
        "policy": "only",
        "proxies": [f"socks5://127.0.0.1:{dead[0]}", f"http://mf:{SECRET}@127.0.0.1:{dead[1]}"],
        "bench_seconds": 0.5,
    }
    service = start_service(config(make_config, binance, proxy))
    wait_for(lambda: service.get("/health")[1]["sources"][0]["reconnects"] >= 3, message="retries")
    assert binance.connects == 0
    health = service.get("/health")[1]["sources"][0]
    assert health["state"] in {"backing_off", "connecting"}
    assert "socks5://127.0.0.1" in health["last_error"] or "benched" in health["last_error"]
    failures = service.get("/proxy/status")[1]["failures"]
    assert set(failures) == {f"socks5://127.0.0.1:{dead[0]}", f"http://mf:***@127.0.0.1:{dead[1]}"}
    # A proxy appears on one of the dead ports: the feed comes up through it, still never direct.
    revived = Dante(tmp_path, port=dead[0]).start()
    try:
        binance.wait_subscribed()
        price_arrives(service, binance, "95000.25")
        assert set(binance.peers) == {revived.peer}
    finally:
        revived.kill()
    assert_no_secret(service)


def start_through_dante_with_direct_blocked(
    binance: FakeExchange,
    dante: Dante,
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
    retry_seconds: float,
) -> Service:
    """Policy ``fallback`` while the exchange refuses direct connections: the feed comes up through dante."""
    binance.block_direct = True
    proxy = {
        "enabled": True,
        "mode": "rotating",
        "policy": "fallback",
        "proxies": [dante.url],
        "direct_retry_seconds": retry_seconds,
    }
    service = start_service(config(make_config, binance, proxy))
    binance.wait_subscribed()
    return service


def test_fallback_switches_to_a_proxy_when_direct_is_blocked_and_returns_later(
    binance: FakeExchange, dante: Dante, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_through_dante_with_direct_blocked(binance, dante, make_config, start_service, retry_seconds=2)
    price_arrives(service, binance, "96100.0")
    assert binance.peers == [dante.peer]
    assert service.get("/proxy/status")[1]["routes"] == {"binance": dante.url}
    binance.block_direct = False
    wait_for(lambda: service.get("/proxy/status")[1]["routes"] == {"binance": "direct"}, timeout=15, message="direct")
    binance.wait_subscribed(2)  # the probe only upgrades a connection: it subscribes to nothing
    price_arrives(service, binance, "96100.5")
    assert binance.peers == [dante.peer, DIRECT_PEER, DIRECT_PEER]  # the probe that found direct working, the feed


def test_fallback_keeps_a_working_proxied_connection_while_direct_stays_blocked(
    binance: FakeExchange, dante: Dante, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_through_dante_with_direct_blocked(binance, dante, make_config, start_service, retry_seconds=1)
    price_arrives(service, binance, "96110.0")
    # The first attempt's direct try, then a direct probe each second or so: all refused.
    wait_for(lambda: len(binance.attempts) >= 7, timeout=20, message="5 direct probes")
    price_arrives(service, binance, "96110.5")
    assert binance.connects == 1
    assert binance.open_connections() == 1
    assert binance.peers == [dante.peer]
    health = service.get("/health")[1]["sources"][0]
    assert (health["state"], health["reconnects"]) == ("connected", 0)
    assert service.get("/proxy/status")[1]["routes"] == {"binance": dante.url}


def test_rotation_moves_on_when_a_proxy_dies(
    binance: FakeExchange,
    tinyproxy: TinyProxy,
    dante: Dante,
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
) -> None:
    proxy = {"enabled": True, "mode": "rotating", "policy": "only", "proxies": [tinyproxy.url, dante.url]}
    service = start_service(config(make_config, binance, proxy))
    binance.wait_subscribed()
    price_arrives(service, binance, "96200.0")
    first = binance.peers[0]
    assert first in {tinyproxy.peer, dante.peer}
    (tinyproxy if first == tinyproxy.peer else dante).kill()
    binance.wait_subscribed(2)
    price_arrives(service, binance, "96200.5")
    second = binance.peers[-1]
    assert second in {tinyproxy.peer, dante.peer} - {first}
    assert DIRECT_PEER not in binance.peers
    assert_no_secret(service)


def test_tcp_feeds_go_through_the_proxy_too(
    binance: FakeExchange,
    dante: Dante,
    exchanges: list[LineExchange],
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
) -> None:
    proxy = {"enabled": True, "mode": "static", "policy": "only", "proxies": [dante.url]}
    tcp = [{"name": "exchange1", "port": exchanges[0].port}]
    service = start_service(config(make_config, binance, proxy, tcp=tcp))
    exchanges[0].wait_connected()
    exchanges[0].send(encode_line("ETHUSDT", 3456.5, int(time.time() * 1000)))
    wait_for(lambda: service.get("/prices/latest/exchange1/ETHUSDT")[1].get("price") == 3456.5, message="tcp price")
    assert exchanges[0].peers == [dante.peer]
    assert service.get("/proxy/status")[1]["routes"]["exchange1"] == dante.url


def test_endpoint_rules(
    binance: FakeExchange,
    tinyproxy: TinyProxy,
    dante: Dante,
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
) -> None:
    proxy = {"enabled": True, "mode": "static", "policy": "only", "proxies": [tinyproxy.url]}
    service = start_service(config(make_config, binance, proxy) | {"mode": "test"})
    # Test mode never uses a proxy, and refuses to turn one on.
    assert service.get("/proxy/status")[1]["enabled"] is False
    for path in ("/proxy/enable", "/proxy/set-static", "/proxy/set-rotating"):
        status, body = service.post(path)
        assert status == 409
        assert "test mode never uses a proxy" in body["error"]
    assert service.post("/proxy/disable")[0] == 200

    assert service.post("/mode/live")[0] == 200
    status, body = service.post("/proxy/enable")
    assert (status, body["enabled"], body["mode"]) == (200, True, "static")
    binance.wait_subscribed()
    assert binance.peers == [tinyproxy.peer]

    # Switching to rotating over both proxies takes effect on the live connection.
    status, body = service.post("/proxy/set-rotating", {"proxies": [dante.url], "policy": "only"})
    assert (status, body["mode"], body["proxies"]) == (200, "rotating", [dante.url])
    binance.wait_subscribed(2)
    assert binance.peers[-1] == dante.peer

    # Disable keeps the settings; the feed goes direct.
    status, body = service.post("/proxy/disable")
    assert (status, body["enabled"], body["proxies"]) == (200, False, [dante.url])
    binance.wait_subscribed(3)
    assert binance.peers[-1] == DIRECT_PEER
    assert service.post("/proxy/enable")[1]["enabled"] is True

    # Nonsense is a 400 that changes nothing.
    for path, body, words in (
        ("/proxy/set-rotating", {"proxies": "socks5://x:1"}, "must be a list"),
        ("/proxy/set-rotating", {"proxies": ["ftp://x:1"]}, "http:// or socks5://"),
        ("/proxy/set-static", {"proxy": "socks5://h"}, "host and a port"),
        ("/proxy/set-static", {"policy": "sometimes"}, "policy must be one of"),
        ("/proxy/set-static", {"proxi": "x"}, "unknown field 'proxi'"),
        ("/proxy/set-static", b"{not json", "must be a JSON object"),
        ("/proxy/set-static", b"x" * 100_000, "Too Large"),
    ):
        status, answer = service.post(path, body)
        assert status in (400, 413), (path, body)
        assert words.lower() in answer["error"].lower()
    assert service.get("/proxy/status")[1]["proxies"] == [dante.url]
    assert service.get("/proxy/enable")[0] == 405

    # set-disabled clears the settings: enabling or static without a proxy makes no sense.
    status, body = service.post("/proxy/set-disabled")
    assert (status, body["enabled"], body["mode"], body["proxies"]) == (200, False, "disabled", [])
    assert service.post("/proxy/enable")[0] == 400
    status, body = service.post("/proxy/set-static")
    assert status == 400
    assert "needs a proxy" in body["error"]

    # Switching to test mode turns the proxy off but keeps its settings.
    assert service.post("/proxy/set-static", {"proxy": tinyproxy.url})[1]["enabled"] is True
    assert service.post("/mode/test")[0] == 200
    status, body = service.get("/proxy/status")
    masked = f"http://mfuser:***@127.0.0.1:{tinyproxy.port}"
    assert (body["enabled"], body["mode"], body["static"]) == (False, "static", masked)
    assert_no_secret(service)


def test_wss_through_a_proxy(
    private_ca: tuple[ssl.SSLContext, str],
    tinyproxy: TinyProxy,
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
) -> None:
    context, ca_file = private_ca
    server = FakeExchange("binance", tls=context)
    try:
        proxy = {"enabled": True, "mode": "static", "policy": "only", "proxies": [tinyproxy.url]}
        cfg = config(make_config, server, proxy)
        cfg["sources"]["live"]["websocket"][0] |= {"url": f"wss://localhost:{server.port}/ws", "ca_file": ca_file}
        service = start_service(cfg)
        server.wait_subscribed()
        price_arrives(service, server, "96300.75")
        assert server.peers == [tinyproxy.peer]
    finally:
        server.close()


def test_a_refused_proxy_request_changes_nothing(
    binance: FakeExchange,
    tinyproxy: TinyProxy,
    dante: Dante,
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
) -> None:
    proxy = {"enabled": True, "mode": "static", "policy": "only", "proxies": [tinyproxy.url]}
    service = start_service(config(make_config, binance, proxy))
    binance.wait_subscribed()
    before = service.get("/proxy/status")[1]
    assert before["routes"] == {"binance": before["static"]}
    for path, body in (
        ("/proxy/set-static", {"proxy": dante.url, "policy": "bogus"}),
        ("/proxy/set-rotating", {"proxies": []}),
        ("/proxy/set-rotating", {"proxies": [dante.url, "ftp://x:1"]}),
        ("/proxy/set-rotating", {"proxies": [dante.url], "policy": "bogus"}),
        ("/proxy/set-static", {"proxy": "socks5://nohost"}),
    ):
        status, answer = service.post(path, body)
        assert status == 400, (path, body, answer)
        assert service.get("/proxy/status")[1] == before, (path, body)
    time.sleep(1)  # a refused request must not reconnect the feed either
    assert binance.connects == 1
    assert binance.peers == [tinyproxy.peer]
    price_arrives(service, binance, "96400.5")


def test_status_says_a_proxy_only_source_has_no_route_yet_and_why(
    binance: FakeExchange, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    dead = free_port()
    proxy = {"enabled": True, "mode": "static", "policy": "only", "proxies": [f"http://mf:{SECRET}@127.0.0.1:{dead}"]}
    service = start_service(config(make_config, binance, proxy))
    wait_for(lambda: service.get("/health")[1]["sources"][0]["reconnects"] >= 2, message="failed attempts")
    route = service.get("/proxy/status")[1]["routes"]["binance"]
    assert route.startswith(f"none yet: http://mf:***@127.0.0.1:{dead}: ConnectionRefusedError"), route
    assert binance.connects == 0
    assert_no_secret(service)
