"""Fixtures for driving a real service: loopback exchanges and config builders."""

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import REDIS_URL
from tests.support.net import LineExchange
from tests.support.service import Service


@pytest.fixture
def exchanges() -> Iterator[list[LineExchange]]:
    """Three stand-ins for the exchange programs, on free loopback ports."""
    started = [LineExchange() for _ in range(3)]
    yield started
    for exchange in started:
        exchange.close()


def deep_merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


@pytest.fixture
def make_config(pg_dsn: str, redis_prefix: str, exchanges: list[LineExchange]) -> Callable[..., dict]:
    def build(mode: str = "live", **sections: dict) -> dict:
        config = {
            "mode": mode,
            "redis": {"url": REDIS_URL, "key_prefix": redis_prefix},
            "postgres": {"dsn": pg_dsn},
            "window": {"raw_seconds": 60},
            "aggregator": {"close_grace_seconds": 0.5, "flush_interval_seconds": 0.2},
            "sources": {
                "live": {
                    "tcp": [{"name": f"exchange{i}", "port": ex.port} for i, ex in enumerate(exchanges, start=1)],
                    # Never the real exchanges: tests talk to loopback only.
                    "websocket": [],
                    "reconnect_initial_seconds": 0.1,
                    "reconnect_max_seconds": 0.5,
                },
            },
        }
        return deep_merge(config, sections)

    return build


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[[dict], Service]]:
    running: list[Service] = []

    def start(config: dict) -> Service:
        service = Service(config, tmp_path).start()
        running.append(service)
        return service

    yield start
    for service in running:
        service.stop()


@pytest.fixture
def private_ca(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for ``localhost`` signed by a throwaway CA, and that CA's PEM file."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, str(ca_file)
