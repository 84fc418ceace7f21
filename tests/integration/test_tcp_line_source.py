"""The TCP reader against a real loopback server: framing, limits, reconnects."""

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gevent

from app.adapters.feeds.tcp_lines import TcpLineSource
from app.adapters.net.connector import Connector
from app.application.backoff import Backoff
from app.application.proxy_routing import ProxyRouter
from app.application.source_status import SourceStatus
from app.domain.proxy_endpoint import parse_proxy_url
from app.domain.proxy_settings import ProxySettings
from tests.support.net import LineExchange, free_port
from tests.support.proxies import TINYPROXY_PEER, TinyProxy

DIRECT_ONLY = Connector(ProxyRouter(ProxySettings(False, "disabled", "fallback", [], None, 60, 300)))


@contextmanager
def reading(port: int, max_line: int = 64) -> Iterator[tuple[list[bytes], SourceStatus]]:
    """Run a TCP source against ``port`` in a greenlet; yields what it emitted and its status."""
    received: list[bytes] = []
    status = SourceStatus("ex1")
    source = TcpLineSource(
        "ex1", frozenset({"BTCUSDT", "ETHUSDT"}), "127.0.0.1", port, max_line, 5.0, DIRECT_ONLY, Backoff(0.05, 0.1)
    )
    greenlet = gevent.spawn(source.run, received.extend, status)
    try:
        yield received, status
    finally:
        greenlet.kill()


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout):
        while not predicate():
            gevent.sleep(0.01)


def test_lines_are_framed_across_reads_and_long_lines_skipped() -> None:
    exchange = LineExchange()
    with reading(exchange.port) as (received, status):
        wait_until(lambda: exchange.connections)
        exchange.send_raw(b'{"a":1}\n{"b"')
        wait_until(lambda: len(received) == 1)
        exchange.send_raw(b":2}\n" + b"x" * 50)
        wait_until(lambda: len(received) == 2)
        exchange.send_raw(b"x" * 50 + b"\n" + b"y" * 70)  # the y-line is over the limit before its end
        exchange.send_raw(b"y" * 10 + b'\n{"c":3}\n')
        wait_until(lambda: len(received) == 3)
        assert received == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
        assert status.snapshot().decode_errors == {"line_too_long": 2}
        assert status.snapshot().state == "connected"
    exchange.close()


def test_a_dropped_connection_is_retried_and_data_resumes() -> None:
    exchange = LineExchange()
    with reading(exchange.port) as (received, status):
        wait_until(lambda: exchange.connections == 1)
        exchange.send(b'{"n":1}')
        wait_until(lambda: len(received) == 1)
        exchange.drop_clients()
        wait_until(lambda: exchange.connections == 2)
        exchange.send(b'{"n":2}')
        wait_until(lambda: len(received) == 2)
        assert received == [b'{"n":1}', b'{"n":2}']
        assert status.snapshot().reconnects == 1
        assert status.snapshot().last_error == "connection closed by the exchange"
        assert status.snapshot().state == "connected"
    exchange.close()


def test_a_refused_connection_backs_off_and_connects_when_the_server_appears() -> None:
    port = free_port()
    with reading(port) as (received, status):
        wait_until(lambda: status.snapshot().reconnects >= 2)
        assert status.snapshot().state in ("backing_off", "connecting")  # waits of 50-100 ms, then tries again
        assert "Connection refused" in status.snapshot().last_error
        exchange = LineExchange(port)
        wait_until(lambda: exchange.connections == 1)
        exchange.send(b'{"n":1}')
        wait_until(lambda: received == [b'{"n":1}'])
    exchange.close()


def test_lines_pushed_at_once_on_connect_all_arrive_through_http_connect(tmp_path: Path) -> None:
    """tinyproxy relays the exchange's first lines right behind its CONNECT reply: none may be lost."""
    proxy = TinyProxy(tmp_path, credentials=("mf", "pw")).start()
    endpoint = parse_proxy_url(proxy.url)
    through_proxy = Connector(ProxyRouter(ProxySettings(True, "static", "only", [endpoint], endpoint, 60, 300)))
    greeting = b"".join(b'{"n":%d}\n' % n for n in range(40))
    exchange = LineExchange(greeting=greeting)
    received: list[bytes] = []
    status = SourceStatus("ex1")
    source = TcpLineSource(
        "ex1",
        frozenset({"BTCUSDT", "ETHUSDT"}),
        "127.0.0.1",
        exchange.port,
        64,
        5.0,
        through_proxy,
        Backoff(0.01, 0.02),
    )
    greenlet = gevent.spawn(source.run, received.extend, status)
    try:
        for connection in range(1, 31):
            wait_until(lambda n=connection: exchange.connections == n)
            with contextlib.suppress(gevent.Timeout):
                wait_until(lambda n=connection: len(received) >= 40 * n, timeout=2)
            assert len(received) == 40 * connection, (
                f"connection {connection}: {len(received) - 40 * (connection - 1)} of 40"
            )
            exchange.drop_clients()
        assert exchange.peers == [TINYPROXY_PEER] * 30
        assert received == [line for _ in range(30) for line in greeting.splitlines()]
    finally:
        greenlet.kill()
        exchange.close()
        proxy.kill()
