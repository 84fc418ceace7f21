"""/proxy/status and /health over several workers: two masters of two workers each, two live feeds, real
tinyproxy and dante, and each of the four workers asked (a kept-alive connection stays with its worker).

Every worker must answer the same true state, within a second or two: each feed's route as the exchange saw
the connection arrive, the failures and benches of every process, and the proxy's own refusal where a
feed can't connect.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path

import orjson

from tests.e2e.test_proxy_e2e import proxied_feed
from tests.support.exchange_servers import FakeExchange
from tests.support.net import wait_for
from tests.support.proxies import DANTE_PEER, TINYPROXY_PEER, Dante, TinyProxy
from tests.support.service import Service, Starter

FEEDS = ("binance", "bybit")
# Fresh within a second or two: a heartbeat a poll old, and the feeds' own reconnect.
FRESH = 3.0


@contextmanager
def every_worker(services: list[Service], per_service: int) -> Iterator[dict[str, HTTPConnection]]:
    """A kept-alive connection to each worker of each service, by the process id /health names."""
    found: dict[str, HTTPConnection] = {}
    spare: list[HTTPConnection] = []
    try:
        for service in services:
            mine = 0
            for _ in range(200):
                connection = HTTPConnection("127.0.0.1", service.port, timeout=5)
                process = ask(connection, "/health")["process"]
                if process in found:
                    spare.append(connection)  # held open, so the next one lands elsewhere
                    continue
                found[process] = connection
                mine += 1
                if mine == per_service:
                    break
            assert mine == per_service, f"only {mine} workers of {service.port} answered"
        yield found
    finally:
        for connection in [*found.values(), *spare]:
            connection.close()


def ask(connection: HTTPConnection, path: str) -> dict:
    connection.request("GET", path)
    response = connection.getresponse()
    return orjson.loads(response.read())


def alike(workers: dict[str, HTTPConnection], check: Callable[[dict, dict], bool], message: str) -> None:
    """Within ``FRESH`` seconds, every worker's /proxy/status and /health pass ``check``."""
    wait_for(
        lambda: all(check(ask(c, "/proxy/status"), ask(c, "/health")) for c in workers.values()),
        timeout=FRESH,
        message=message,
    )


def routes_as_seen(exchanges: dict[str, FakeExchange], by_peer: dict[str, str]) -> dict[str, str]:
    """Each feed's route as its exchange saw its last connection arrive."""
    return {name: by_peer[exchange.peers[-1]] for name, exchange in exchanges.items()}


def test_every_worker_answers_the_same_true_proxy_state(
    tmp_path: Path, make_config: Callable[..., dict], start_service: Starter[Service]
) -> None:
    exchanges = {kind: FakeExchange(kind) for kind in FEEDS}
    http_proxy = TinyProxy(tmp_path, credentials=("mfuser", "s3cret-Pa55")).start()
    socks = Dante(tmp_path).start()
    refusing = TinyProxy(tmp_path, credentials=("mfuser", "right-one")).start()
    try:
        masked = f"http://mfuser:***@127.0.0.1:{http_proxy.port}"
        by_peer = {TINYPROXY_PEER: masked, DANTE_PEER: socks.url}
        proxy = {"enabled": True, "mode": "rotating", "policy": "only", "proxies": [http_proxy.url, socks.url]}
        live = {
            "tcp": [],
            "websocket": [proxied_feed(exchange) for exchange in exchanges.values()],
            "reconnect_initial_seconds": 0.1,
            "reconnect_max_seconds": 0.3,
        }
        config = make_config(sources={"live": live}, proxy=proxy, http={"workers": 2}, leases={"ttl_seconds": 2.0})
        first, second = start_service.together(config, config)
        for exchange in exchanges.values():
            exchange.wait_subscribed()
        with every_worker([first, second], 2) as workers:
            # Connected through the proxies, as the exchanges saw it, on every worker.
            alike(
                workers,
                lambda status, health: (
                    status["routes"] == routes_as_seen(exchanges, by_peer)
                    and all(source["state"] == "connected" and source["owner"] for source in health["sources"])
                ),
                "every worker shows each feed's route and state",
            )
            # The proxy carrying the feeds dies: they move on, and every worker shows the failure and the bench.
            carrying = http_proxy if exchanges["binance"].peers[-1] == TINYPROXY_PEER else socks
            survivor = socks if carrying is http_proxy else http_proxy
            dead = by_peer[carrying.peer]
            carrying.kill()
            for exchange in exchanges.values():
                wait_for(lambda e=exchange: e.peers[-1] == survivor.peer and e.open_connections(), timeout=10)
            alike(
                workers,
                lambda status, _: (
                    status["routes"] == routes_as_seen(exchanges, by_peer)
                    and status["failures"].get(dead, 0) >= 1
                    and status["benched"] == [dead]
                ),
                "the dead proxy's failure and bench on every worker",
            )
            # A proxy that refuses our credentials: every worker shows its words, not only that it is benched.
            wrong = refusing.url.replace("right-one", "wrong-one")
            status, _ = first.post("/proxy/set-rotating", {"proxies": [wrong], "policy": "only"})
            assert status == 200
            refused = "proxy refused CONNECT: 'HTTP/1.0 401"  # tinyproxy answers 401 where others say 407
            alike(
                workers,
                lambda status, health: (
                    all(refused in route for route in status["routes"].values())
                    and all(
                        source["state"] != "connected" and refused in (source["last_error"] or "")
                        for source in health["sources"]
                    )
                ),
                "the proxy's refusal on every worker",
            )
            time.sleep(1.5)  # and it stays shown while the proxy sits benched
            alike(
                workers,
                lambda _, health: all(refused in (source["last_error"] or "") for source in health["sources"]),
                "the refusal still shown",
            )
            for worker in workers.values():  # the password the service was given is shown by none of them
                assert "wrong-one" not in str(ask(worker, "/proxy/status")) + str(ask(worker, "/health"))
    finally:
        for exchange in exchanges.values():
            exchange.close()
        for server in (http_proxy, socks, refusing):
            server.kill()
