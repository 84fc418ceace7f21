from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.adapters.http.prices import prices_bp
from app.adapters.http.services import EXTENSION_KEY
from app.application.price_queries import WindowAnswer
from app.domain.period import Period
from app.domain.stats import PriceStats

T = 1_795_256_130_123  # 2026-11-21T10:15:30.123Z


class Queries:
    """A window's answer as the views get it, with what they were asked."""

    def __init__(self, partial: tuple[str, ...] = ()) -> None:
        self.partial = partial
        self.asked: list[tuple[str, str | None, Period]] = []

    def window(self, symbol: str, exchange: str | None, period: Period) -> WindowAnswer:
        self.asked.append((symbol, exchange, period))
        stats = PriceStats()
        stats.add("binance", 101.5, T - 2000)
        stats.add("okx", 99.25, T - 1000)
        stats.add("okx", 100.0, T)
        exchanges = (exchange,) if exchange else ("binance", "okx")
        return WindowAnswer("BTCUSDT", exchanges, period, stats, T - period.ms + 1, T, self.partial)


def client(queries: Queries) -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(prices_bp)
    app.extensions[EXTENSION_KEY] = SimpleNamespace(queries=queries)
    return app.test_client()


MINUTE = {"symbol": "BTCUSDT", "period": "1m", "from": "2026-11-21T10:14:30.124Z", "to": "2026-11-21T10:15:30.123Z"}
HALF = {**MINUTE, "period": "30s", "from": "2026-11-21T10:15:00.124Z"}
HIGH = {"exchange": "binance", "price": 101.5, "timestamp": "2026-11-21T10:15:28.123Z"}
LOW = {"exchange": "okx", "price": 99.25, "timestamp": "2026-11-21T10:15:29.123Z"}


@pytest.mark.parametrize(
    ("path", "exchange", "body"),
    [
        ("/prices/highest/btcusdt", None, {**HIGH, **MINUTE}),
        ("/prices/lowest/btcusdt", None, {**LOW, **MINUTE}),
        ("/prices/highest/okx/btcusdt?period=30s", "okx", {**HIGH, **HALF}),
        ("/prices/lowest/okx/btcusdt?period=30s", "okx", {**LOW, **HALF}),
    ],
)
def test_an_extreme_says_where_and_when_it_was_seen_and_over_which_window(
    path: str, exchange: str | None, body: dict[str, object]
) -> None:
    queries = Queries()
    response = client(queries).get(path)
    assert (response.status_code, response.get_json()) == (200, body)
    assert [(symbol, asked) for symbol, asked, _ in queries.asked] == [("btcusdt", exchange)]


def test_a_partial_extreme_says_why() -> None:
    response = client(Queries(("Redis is down", "a gap"))).get("/prices/lowest/btcusdt")
    assert response.data == (
        b'{"exchange":"okx","from":"2026-11-21T10:14:30.124Z","partial":true,'
        b'"partial_reason":"Redis is down; a gap","period":"1m","price":99.25,'
        b'"symbol":"BTCUSDT","timestamp":"2026-11-21T10:15:29.123Z","to":"2026-11-21T10:15:30.123Z"}\n'
    )
