"""Backfill over REST against a loopback server speaking each exchange's documented history API."""

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import parse_qs

from gevent.pywsgi import WSGIServer

from app.adapters.feeds.exchanges import EXCHANGES
from app.adapters.net.connector import Connector, tls_context
from app.application.proxy_routing import ProxyRouter
from app.domain.missed_trades import Missing, TradeMark
from app.domain.proxy_settings import ProxySettings

DIRECT_ONLY = Connector(ProxyRouter(ProxySettings(False, "disabled", "fallback", [], None, 60, 300)))
T0 = 1_763_712_000_000


@contextmanager
def serving(answer: Callable[[str, dict[str, str]], tuple[str, list, object]]) -> Iterator[tuple[str, list]]:
    """A loopback HTTP server; ``answer(path, query)`` gives (status, headers, JSON). Yields its base and requests."""
    requests: list[tuple[float, str, dict[str, str]]] = []

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
        requests.append((time.monotonic(), environ["PATH_INFO"], query))
        status, headers, body = answer(environ["PATH_INFO"], query)
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.stop()


def history(kind: str, base: str, listed: Mapping[str, str] | None = None):
    exchange = EXCHANGES[kind]
    client = exchange.rest_client(kind, base, DIRECT_ONLY, 5.0, tls_context())
    found = exchange.trade_history(kind, client, {} if listed is None else listed)
    assert found is not None
    return found


def test_binance_pages_by_id_waits_out_a_429_and_counts_what_its_history_no_longer_has() -> None:
    # The exchange keeps trades 40..100 of BTCUSDT (id n at T0 + n ms); the first request is rate limited.
    limited = [True]

    def answer(path: str, query: dict[str, str]) -> tuple[str, list, object]:
        assert path == "/api/v3/historicalTrades"
        assert query["symbol"] == "BTCUSDT"
        if limited.pop() if limited else False:
            return "429 Too Many Requests", [("Retry-After", "1")], {"code": -1003, "msg": "Too many requests"}
        start = max(int(query["fromId"]), 40)
        ids = range(start, min(start + int(query["limit"]), 101))
        rows = [{"id": n, "price": f"{100 + n}.5", "qty": "0.5", "time": T0 + n, "isBuyerMaker": True} for n in ids]
        return "200 OK", [], rows

    with serving(answer) as (base, requests):
        recovery = history("binance", base).recover(
            Missing("BTCUSDT", TradeMark("30", T0 + 30), TradeMark("61", T0 + 61))
        )
    assert [int(t[4]) for t in recovery.trades] == list(range(40, 61))
    assert recovery.trades[0] == ("BTCUSDT", "140.5", T0 + 40, "0.5", 40)
    assert recovery.lost is not None
    assert (recovery.lost.from_ms, recovery.lost.to_ms, recovery.lost.lost) == (T0 + 30, T0 + 40, 9)
    assert [r[2]["fromId"] for r in requests] == ["31", "31"]  # the same request again, after the pause
    assert requests[1][0] - requests[0][0] >= 1.0


def test_bybit_keeps_the_last_60_trades_so_a_longer_gap_is_lost_from_its_oldest() -> None:
    rows = [
        {"execId": str(n), "symbol": "BTCUSDT", "price": "1.5", "size": "2", "side": "Buy", "time": str(T0 + n)}
        for n in range(200, 140, -1)
    ]

    def answer(path: str, query: dict[str, str]) -> tuple[str, list, object]:
        assert (path, query["category"], query["limit"]) == ("/v5/market/recent-trade", "spot", "60")
        return "200 OK", [], {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": rows}}

    with serving(answer) as (base, _):
        recovery = history("bybit", base).recover(
            Missing("BTCUSDT", TradeMark("a", T0 + 100), TradeMark("b", T0 + 180))
        )
    assert [t[4] for t in recovery.trades] == [str(n) for n in range(141, 181)]
    assert recovery.lost is not None
    assert (recovery.lost.from_ms, recovery.lost.to_ms, recovery.lost.lost) == (
        T0 + 100,
        T0 + 141,
        None,
    )


def test_okx_pages_back_until_it_reaches_the_trade_before_the_gap() -> None:
    book = [
        {"instId": "BTC-USDT", "tradeId": str(n), "px": "2", "sz": "1", "side": "buy", "ts": str(T0 + n)}
        for n in range(1, 301)
    ]

    def answer(path: str, query: dict[str, str]) -> tuple[str, list, object]:
        assert (path, query["instId"], query["type"]) == ("/api/v5/market/history-trades", "BTC-USDT", "1")
        older = [row for row in reversed(book) if int(row["tradeId"]) < int(query["after"])]
        return "200 OK", [], {"code": "0", "msg": "", "data": older[: int(query["limit"])]}

    with serving(answer) as (base, requests):
        recovery = history("okx", base).recover(
            Missing("BTCUSDT", TradeMark("20", T0 + 20), TradeMark("260", T0 + 260))
        )
    assert [int(t[4]) for t in recovery.trades] == list(range(21, 260))
    assert recovery.lost is None
    assert [r[2]["after"] for r in requests] == ["260", "160", "60"]


def test_okx_asks_for_a_pair_as_its_listing_spelled_it_not_as_a_guess_would() -> None:
    """A quote the spelling rule doesn't know (``TRY``) can't be split from our symbol: the listing's spelling,
    learned after the history was made, is the one asked for, as the stream subscribed to it."""
    listed: dict[str, str] = {}

    def answer(path: str, query: dict[str, str]) -> tuple[str, list, object]:
        rows = [
            {"instId": "BTC-TRY", "tradeId": str(n), "px": "3", "sz": "1", "side": "buy", "ts": str(T0 + n)}
            for n in (2, 1)
            if query["instId"] == "BTC-TRY" and n < int(query["after"])
        ]
        return "200 OK", [], {"code": "0", "msg": "", "data": rows}

    with serving(answer) as (base, requests):
        found = history("okx", base, listed)
        missing = Missing("BTCTRY", TradeMark("1", T0 + 1), TradeMark("3", T0 + 3))
        guessed = found.recover(missing)
        listed["BTCTRY"] = "BTC-TRY"
        spelled = found.recover(missing)
    assert [r[2]["instId"] for r in requests] == ["BTCTRY", "BTC-TRY"]
    assert guessed.trades == []
    assert guessed.lost is not None
    assert [(t[0], t[1], t[2], t[4]) for t in spelled.trades] == [("BTCTRY", "3", T0 + 2, "2")]
    assert spelled.lost is None


def test_nothing_listening_is_an_os_error() -> None:
    try:
        history("okx", "http://127.0.0.1:9").recover(Missing("BTCUSDT", TradeMark("1", T0), TradeMark("3", T0 + 2)))
    except OSError:
        return
    raise AssertionError("expected OSError")
