"""The exchange registry: one entry per exchange class, each complete, its REST history consistent."""

import ssl
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from app.adapters.feeds.exchanges import EXCHANGE_KINDS, EXCHANGES, REGISTERED
from app.adapters.feeds.exchanges.base import ExchangeProtocol
from app.adapters.feeds.exchanges.rest_history import ExchangeHistory
from app.adapters.net.connector import Destination, tls_context
from app.config.loader import ConfigError, load_config
from app.domain.missed_trades import Missing, TradeMark


def test_every_class_is_registered_once_under_its_own_kind() -> None:
    assert len({exchange.kind for exchange in REGISTERED}) == len(REGISTERED)
    assert tuple(exchange.kind for exchange in REGISTERED) == EXCHANGE_KINDS
    assert all(EXCHANGES[exchange.kind] is exchange for exchange in REGISTERED)


@pytest.mark.parametrize("exchange", REGISTERED, ids=lambda exchange: exchange.kind)
def test_each_exchange_has_a_default_url_and_its_own_protocol(exchange: type[ExchangeProtocol]) -> None:
    url = urlsplit(exchange.default_url)
    assert (url.scheme, bool(url.hostname)) == ("wss", True)
    for method in ("message", "control", "decode", "listing"):
        assert getattr(exchange, method) is not getattr(ExchangeProtocol, method), method
    assert exchange.default_ping_interval is None or exchange.default_ping_interval > 0
    assert exchange.max_connection_age is None or exchange.max_connection_age > 0


@pytest.mark.parametrize("exchange", REGISTERED, ids=lambda exchange: exchange.kind)
def test_each_exchange_declares_its_limits_and_its_rest_base(exchange: type[ExchangeProtocol]) -> None:
    assert exchange.max_symbols_per_connection > 0
    assert 0 < exchange.max_symbols_per_request <= exchange.max_symbols_per_connection
    assert exchange.request_interval > 0
    assert exchange.connect_interval > 0
    assert exchange.rest_interval > 0
    base = urlsplit(exchange.rest_base)
    assert (base.scheme, bool(base.hostname), base.path) == ("https", True, "")
    assert exchange.history is None or exchange.history.recover is not ExchangeHistory.recover


class Unreachable:
    """A connector that records where each request would go, and fails it."""

    def __init__(self) -> None:
        self.destinations: list[Destination] = []

    def exchange(self, destination: Destination, handshake: Callable) -> None:
        self.destinations.append(destination)
        raise ConnectionRefusedError("not in a unit test")


def asked(exchange: type[ExchangeProtocol], rest_url: str) -> Destination | None:
    """Where the source ``feed-1``'s history of ``exchange`` sends its first request, or None for none."""
    connector = Unreachable()
    client = exchange.rest_client("feed-1", rest_url, connector, 5.0, tls_context())  # type: ignore[arg-type]
    history = exchange.trade_history("feed-1", client, {})
    if history is None:
        return None
    with pytest.raises(OSError, match="not in a unit test"):
        history.recover(Missing("BTCUSDT", TradeMark("10", 1_000), TradeMark("20", 2_000)))
    return connector.destinations[0]


@pytest.mark.parametrize("exchange", REGISTERED, ids=lambda exchange: exchange.kind)
def test_a_history_asks_the_documented_base_or_the_configured_one_under_its_own_proxy_name(
    exchange: type[ExchangeProtocol],
) -> None:
    documented = asked(exchange, "")
    if exchange.history is None:
        assert documented is None
        assert asked(exchange, "http://127.0.0.1:9") is None
        return
    assert documented is not None
    assert (documented.source, documented.host, documented.port) == (
        "feed-1 rest",
        urlsplit(exchange.rest_base).hostname,
        443,
    )
    assert isinstance(documented.tls, ssl.SSLContext)
    configured = asked(exchange, "http://127.0.0.1:9")
    assert configured is not None
    assert (configured.source, configured.host, configured.port) == ("feed-1 rest", "127.0.0.1", 9)
    assert configured.tls is None


@pytest.mark.parametrize("kind", EXCHANGE_KINDS)
def test_the_config_accepts_each_registered_kind(tmp_path: Path, kind: str) -> None:
    config = write_config(tmp_path, {"sources": {"live": {"websocket": [{"name": "ex", "kind": kind}]}}})
    assert load_config(config, env={}).sources.live.websocket[0].kind == kind


def test_the_config_refuses_a_kind_that_is_not_registered(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"sources": {"live": {"websocket": [{"name": "ex", "kind": "bitstamp"}]}}})
    with pytest.raises(ConfigError, match=r"sources\.live\.websocket\[0\]\.kind: must be one of binance, bybit"):
        load_config(config, env={})


def write_config(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "marketflow.yaml"
    path.write_text(yaml.safe_dump({"aggregator": {"spool_path": str(tmp_path / "spool.jsonl")}, **raw}))
    return path
