"""Exchange feeds through a real gunicorn worker: Binance's scenario of tests/service/test_exchanges.py
(subscribe, pings answered, close, drop and silence survived), and wss:// with a private CA."""

import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from tests.service.test_exchanges import adapter_end_to_end, ws_config
from tests.support.exchange_servers import FakeExchange, binance_trade
from tests.support.net import wait_for
from tests.support.service import Service


@pytest.fixture
def binance() -> Iterator[FakeExchange]:
    server = FakeExchange("binance")
    yield server
    server.close()


def test_exchange_adapter_end_to_end(
    binance: FakeExchange, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    adapter_end_to_end(binance, make_config, start_service)


def test_wss_with_a_private_ca(
    private_ca: tuple[ssl.SSLContext, str], make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    server_context, ca_file = private_ca
    server = FakeExchange("binance", tls=server_context)
    try:
        url = f"wss://localhost:{server.port}/ws"
        service = start_service(ws_config(make_config, "binance", url, ca_file=ca_file))
        server.wait_subscribed()
        now = int(time.time() * 1000)
        server.send(binance_trade("BTCUSDT", "97000.01", now))
        wait_for(lambda: service.get("/prices/latest/binance/BTCUSDT")[1].get("price") == 97000.01, message="wss")
    finally:
        server.close()
