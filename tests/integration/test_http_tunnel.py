"""Our HTTP CONNECT against real tinyproxy: refusals are clear errors, and the tunnel carries bytes both ways."""

from pathlib import Path

import pytest

from app.adapters.net.http_tunnel import ProxyRefused, open_tunnel
from app.domain.proxy_endpoint import parse_proxy_url
from tests.support.net import LineExchange
from tests.support.proxies import TinyProxy


def test_wrong_credentials_are_refused_with_the_proxys_status(tmp_path: Path) -> None:
    proxy = TinyProxy(tmp_path, credentials=("mf", "right")).start()
    exchange = LineExchange(greeting=b"hello\n")
    try:
        wrong = parse_proxy_url(f"http://mf:wrong@127.0.0.1:{proxy.port}")
        with pytest.raises(ProxyRefused, match=r"proxy refused CONNECT: 'HTTP/1\.0 401 Unauthorized'"):
            open_tunnel(wrong, "127.0.0.1", exchange.port, 5.0)
        assert exchange.connections == 0
        sock = open_tunnel(parse_proxy_url(proxy.url), "127.0.0.1", exchange.port, 5.0)
        try:
            assert sock.recv(100) == b"hello\n"
        finally:
            sock.close()
    finally:
        exchange.close()
        proxy.kill()
