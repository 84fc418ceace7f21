"""Each exchange adapter against a real loopback WebSocket server speaking its protocol, in-process.

Handshake, subscribe and ack, trades in the documented format, keep-alive,
a server close, an abrupt drop and silence: the service reconnects, data
resumes, and the exact prices sent reach the API.

Through gunicorn (tests/e2e/test_exchanges_e2e.py): the first scenario for Binance, and wss:// with a
private CA (TLS needs the worker's patched ``ssl``: in this process it would block every greenlet).
"""

import json
import time
from collections.abc import Callable, Iterator

import gevent
import pytest

from app.adapters.feeds.exchanges import EXCHANGE_KINDS, REGISTERED
from app.adapters.feeds.websocket.feed import ALL_REFUSED
from tests.support.exchange_servers import (
    REPLIES,
    BinanceHistoryServer,
    FakeExchange,
    binance_trade,
    bybit_trades,
    coinbase_trades,
    kraken_trades,
    okx_trades,
)
from tests.support.net import wait_for
from tests.support.service import ServiceUnderTest

Start = Callable[[dict], ServiceUnderTest]


def dashed(symbol: str) -> str:
    return f"{symbol[:-4]}-{symbol[-4:]}"


# Per exchange, its own messages for (price, ts) trades of a symbol (ours).
TRADES_MESSAGES: dict[str, Callable[[str, list[tuple[str, int]]], list[str]]] = {
    "binance": lambda symbol, trades: [binance_trade(symbol, price, ts) for price, ts in trades],
    "bybit": lambda symbol, trades: [bybit_trades(symbol, trades)],
    "okx": lambda symbol, trades: [okx_trades(dashed(symbol), trades)],
    "coinbase": lambda symbol, trades: [coinbase_trades(dashed(symbol), trades)],
    "kraken": lambda symbol, trades: [kraken_trades(f"{symbol[:-4]}/{symbol[-4:]}", trades)],
}


EXPECTED_SUBSCRIBE = {
    "binance": {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 1},
    "bybit": {"req_id": "1", "op": "subscribe", "args": ["publicTrade.BTCUSDT", "publicTrade.ETHUSDT"]},
    "okx": {
        "id": "1",
        "op": "subscribe",
        "args": [{"channel": "trades", "instId": "BTC-USDT"}, {"channel": "trades", "instId": "ETH-USDT"}],
    },
    # Heartbeats first (they keep quiet channels open), then the trades, each request once the one before is acked.
    "coinbase": {"type": "subscribe", "channel": "heartbeats"},
    "kraken": {
        "method": "subscribe",
        "params": {"channel": "trade", "symbol": ["BTC/USDT", "ETH/USDT"], "snapshot": False},
        "req_id": 1,
    },
}
# How each keeps the connection alive: the server pings, the client sends a ping message, or the server heartbeats.
CLIENT_PINGS = {"bybit": '{"op":"ping"}', "okx": "ping", "kraken": '{"method":"ping"}'}


def test_every_registered_exchange_has_its_test_data() -> None:
    """A new exchange in the registry fails here until its stand-in and its messages are written, rather than
    going untested."""
    kinds = set(EXCHANGE_KINDS)
    assert set(REPLIES) == kinds, "FakeExchange's REPLIES (tests/support/exchange_servers.py)"
    assert set(TRADES_MESSAGES) == kinds, "TRADES_MESSAGES"
    assert set(EXPECTED_SUBSCRIBE) == kinds, "EXPECTED_SUBSCRIBE"
    assert set(CLIENT_PINGS) == {e.kind for e in REGISTERED if e.default_ping_interval}, "CLIENT_PINGS"


def ws_config(make_config: Callable[..., dict], kind: str, url: str, **extra: object) -> dict:
    source = {
        "name": kind,
        "kind": kind,
        "url": url,
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "silence_timeout_seconds": 3,
        "ack_timeout_seconds": 2,
        "min_connect_interval_seconds": 0.2,
        "rest_url": "http://127.0.0.1:9",  # nothing listens: backfill fails at once, never leaving loopback
        **extra,
    }
    if kind in CLIENT_PINGS:
        source["ping_interval_seconds"] = 0.5
    return make_config(sources={"live": {"tcp": [], "websocket": [source]}})


def source_health(service: ServiceUnderTest) -> dict:
    return service.get("/health")[1]["sources"][0]


@pytest.fixture(params=EXCHANGE_KINDS)
def exchange(request: pytest.FixtureRequest) -> Iterator[FakeExchange]:
    server = FakeExchange(request.param)
    yield server
    server.close()


def adapter_end_to_end(exchange: FakeExchange, make_config: Callable[..., dict], start: Start) -> None:
    kind = exchange.kind
    service = start(ws_config(make_config, kind, exchange.url))
    exchange.wait_subscribed()
    assert json.loads(exchange.received[0]) == EXPECTED_SUBSCRIBE[kind]
    wait_for(lambda: source_health(service)["state"] == "connected", message="connected")

    now = int(time.time() * 1000)
    exchange.send(*TRADES_MESSAGES[kind]("BTCUSDT", [("96123.45", now - 300), ("96120.05", now - 200)]))
    wait_for(lambda: service.get(f"/prices/average/{kind}/BTCUSDT")[1].get("count") == 2, message="2 trades")
    assert service.get(f"/prices/average/{kind}/BTCUSDT")[1]["price"] == pytest.approx((96123.45 + 96120.05) / 2)
    assert service.get(f"/prices/latest/{kind}/BTCUSDT")[1]["price"] == 96120.05
    assert service.get(f"/prices/highest/{kind}/BTCUSDT")[1]["price"] == 96123.45

    # Keep-alive: the client answers the server's pings (Binance), pings itself (Bybit, OKX, Kraken),
    # or subscribes to heartbeats (Coinbase).
    if kind == "binance":
        assert exchange.ping_clients()
    elif kind == "coinbase":  # the trades once the heartbeats are acked (Coinbase's acks name no request)
        wait_for(lambda: len(exchange.received) >= 2, message="the market_trades subscribe")
        assert json.loads(exchange.received[1]) == {
            "type": "subscribe",
            "product_ids": ["BTC-USDT", "ETH-USDT"],
            "channel": "market_trades",
        }
    else:
        wait_for(lambda: exchange.received.count(CLIENT_PINGS[kind]) >= 2, message="client pings")
    assert exchange.connects == 1

    def resumes(connects: int, price: str, error: str) -> None:
        exchange.wait_subscribed(connects)
        wait_for(lambda: source_health(service)["state"] == "connected", message="reconnected")
        assert error in source_health(service)["last_error"]
        exchange.send(*TRADES_MESSAGES[kind]("ETHUSDT", [(price, int(time.time() * 1000))]))
        wait_for(lambda: service.get(f"/prices/latest/{kind}/ETHUSDT")[1].get("price") == float(price), message=price)

    exchange.close_clients(1001, "going away")
    resumes(2, "3500.5", "closed by the exchange: 1001 going away")
    exchange.drop_clients()
    resumes(3, "3501.25", "Connection")
    # Silence: no trade for silence_timeout_seconds (3 s) -> reconnect.
    resumes(4, "3502.75", "no trade for 3s")

    health = source_health(service)
    assert health["reconnects"] == 3
    assert health["messages"] >= 4
    assert health["decode_errors"] == {}


def test_exchange_adapter_end_to_end(
    exchange: FakeExchange, make_config: Callable[..., dict], start_in_process: Start
) -> None:
    adapter_end_to_end(exchange, make_config, start_in_process)


@pytest.mark.parametrize(
    ("kind", "message", "words"),
    [
        ("binance", '{"code":2,"msg":"Invalid request: unknown stream"}', "2 Invalid request: unknown stream"),
        ("binance", '{"error":{"code":2,"msg":"Invalid request: bad stream"},"id":1}', "2 Invalid request: bad stream"),
        ("bybit", '{"success":false,"ret_msg":"error:handler not found","op":"subscribe"}', "error:handler not found"),
        ("okx", '{"event":"error","code":"60012","msg":"Invalid request"}', "60012 Invalid request"),
        ("coinbase", '{"type":"error","message":"failure to subscribe"}', "failure to subscribe"),
        (
            "kraken",
            '{"method":"subscribe","success":false,"error":"Currency pair not supported"}',
            "Currency pair not supported",
        ),
    ],
)
def test_exchange_errors_are_reported_in_the_exchanges_words(
    kind: str, message: str, words: str, make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server = FakeExchange(kind)
    try:
        service = start_in_process(ws_config(make_config, kind, server.url))
        server.wait_subscribed()
        server.send(message)
        wait_for(lambda: source_health(service)["last_exchange_error"] == words, message="error shown")
        assert words in service.logs()
    finally:
        server.close()


def test_a_subscription_never_acknowledged_is_retried(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server = FakeExchange("okx", acks=False)
    try:
        service = start_in_process(ws_config(make_config, "okx", server.url))
        server.wait_subscribed(2)
        assert "subscription not acknowledged within 2s" in source_health(service)["last_error"]
    finally:
        server.close()


def test_switching_modes_while_a_feed_reconnects_leaves_no_connection(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server = FakeExchange("bybit", acks=False)  # never acks: the feed keeps reconnecting
    try:
        service = start_in_process(ws_config(make_config, "bybit", server.url))
        server.wait_subscribed(2)
        assert service.post("/mode/test")[1]["changed"] is True
        wait_for(lambda: server.open_connections() == 0, message="feed connection closed")
        connects = server.connects
        gevent.sleep(2.5)  # longer than the ack timeout plus the backoff: a leaked feed would reconnect
        assert server.connects == connects
        assert server.open_connections() == 0
        assert service.post("/mode/live")[1]["changed"] is True
        wait_for(lambda: server.connects > connects, message="feed back after switching to live")
    finally:
        server.close()


def test_a_rate_limited_handshake_is_retried_only_after_retry_after(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server = FakeExchange("binance")
    server.rate_limit = 2
    try:
        service = start_in_process(ws_config(make_config, "binance", server.url))
        wait_for(lambda: len(server.attempts) >= 2, timeout=10, message="a second attempt")
        assert server.attempts[1] - server.attempts[0] >= 2.0  # not the 0.1-0.5 s backoff
        assert "rate limited: retry after 2s" in source_health(service)["last_error"]
        server.rate_limit = None
        server.wait_subscribed()
        server.send(binance_trade("BTCUSDT", "96500.5", int(time.time() * 1000)))
        wait_for(lambda: service.get("/prices/latest/binance/BTCUSDT")[1].get("price") == 96500.5, message="data")
    finally:
        server.close()


def queryable_average(service: ServiceUnderTest, kind: str) -> dict | None:
    """The 1m average of BTCUSDT once the ticks are queryable (/health counts them a batch earlier)."""
    answer = service.get(f"/prices/average/{kind}/BTCUSDT")[1]
    return answer if "count" in answer else None


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (
            "bybit",
            lambda p, ts: {"T": ts, "s": "BTCUSDT", "S": "Buy", "v": "0.1", "p": p, "i": p},
            {"T": 1, "s": "BTCUSDT"},
        ),
        (
            "okx",
            lambda p, ts: {"instId": "BTC-USDT", "tradeId": p, "px": p, "sz": "0.1", "ts": str(ts), "count": "1"},
            {"instId": "BTC-USDT", "ts": "1"},
        ),
    ],
)
def test_one_bad_trade_in_a_message_leaves_the_trades_after_it(
    kind: str,
    good: Callable[[str, int], dict],
    bad: dict,
    make_config: Callable[..., dict],
    start_in_process: Start,
) -> None:
    server = FakeExchange(kind)
    try:
        service = start_in_process(ws_config(make_config, kind, server.url))
        server.wait_subscribed()
        now = int(time.time() * 1000)
        data = [good("100.5", now - 20), bad, good("300.5", now - 10)]
        envelope = (
            {"topic": "publicTrade.BTCUSDT"}
            if kind == "bybit"
            else {"arg": {"channel": "trades", "instId": "BTC-USDT"}}
        )
        server.send(json.dumps({**envelope, "data": data}))
        wait_for(lambda: source_health(service)["decode_errors"], message="the bad trade counted")
        wait_for(lambda: source_health(service)["ticks"] == 2, message="both good trades")
        assert source_health(service)["decode_errors"] == {"missing_field": 1}
        average = wait_for(lambda: queryable_average(service, kind), message="queryable")
        assert (average["count"], average["price"]) == (2, 200.5)
    finally:
        server.close()


def test_an_okx_entry_counts_as_the_trades_it_stands_for(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server = FakeExchange("okx")
    try:
        service = start_in_process(ws_config(make_config, "okx", server.url))
        server.wait_subscribed()
        now = int(time.time() * 1000)
        entries = [("100", "3"), ("200", "1"), ("50", "0"), ("50", "two")]
        data = [
            {"instId": "BTC-USDT", "tradeId": str(i), "px": px, "sz": "1", "side": "buy", "ts": str(now), "count": n}
            for i, (px, n) in enumerate(entries)
        ]
        server.send(json.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": data}))
        wait_for(lambda: source_health(service)["ticks"] == 4, message="4 trades")
        average = wait_for(lambda: queryable_average(service, "okx"), message="queryable")
        assert (average["count"], average["price"]) == (4, 125.0)
        assert source_health(service)["decode_errors"] == {"bad_count": 2}
    finally:
        server.close()


@pytest.mark.parametrize(
    ("kind", "message", "words", "ended", "refused"),
    [
        # An error answering no request: the subscription stays unanswered, and the connection ends for it.
        (
            "okx",
            '{"event":"error","code":"60012","msg":"Invalid request"}',
            "60012 Invalid request",
            "subscription not acknowledged within 2s",
            0,
        ),
        # An error answering our request: both its symbols are refused, and the connection, left with nothing to
        # read, is closed: the feed reads nothing, and says so.
        (
            "binance",
            '{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":1}',
            "2 Invalid request: unknown stream",
            ALL_REFUSED,
            2,
        ),
    ],
)
def test_the_exchanges_error_stays_visible_after_the_connection_ends(
    kind: str,
    message: str,
    words: str,
    ended: str,
    refused: int,
    make_config: Callable[..., dict],
    start_in_process: Start,
) -> None:
    server = FakeExchange(kind, acks=False)
    try:
        service = start_in_process(ws_config(make_config, kind, server.url))
        server.wait_subscribed()
        server.send(message)
        wait_for(lambda: ended in (source_health(service)["last_error"] or ""), message="the connection ends")
        health = source_health(service)
        assert health["last_exchange_error"] == words
        assert health["symbols"]["refused"] == refused
        if refused == 2:  # every pair refused: the feed reads nothing, and /health is not ok
            assert (health["state"], health["connections"]) == ("failed", 0)
            assert service.get("/health")[1]["status"] == "degraded"
    finally:
        server.close()


def test_a_feed_whose_every_pair_was_refused_stays_failed_when_attached_again(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    """Its pairs stay refused (never asked for again), so a mode switch there and back opens no connection: the
    feed still reads nothing, and must not show connected."""
    server = FakeExchange("binance", acks=False)
    try:
        service = start_in_process(ws_config(make_config, "binance", server.url))
        server.wait_subscribed()
        server.send('{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":1}')
        wait_for(lambda: source_health(service)["state"] == "failed", message="every pair refused")
        assert service.post("/mode/test")[0] == 200
        assert service.post("/mode/live")[0] == 200
        wait_for(lambda: source_health(service)["state"] != "stopped", message="attached again")
        gevent.sleep(0.5)
        health = source_health(service)
        assert (health["state"], health["connections"], health["last_error"]) == ("failed", 0, ALL_REFUSED)
        assert service.get("/health")[1]["status"] == "degraded"
        assert server.connects == 1
    finally:
        server.close()


def test_a_binance_ping_interval_sends_ping_frames(make_config: Callable[..., dict], start_in_process: Start) -> None:
    server = FakeExchange("binance")
    try:
        cfg = ws_config(make_config, "binance", server.url, ping_interval_seconds=0.3, silence_timeout_seconds=30)
        service = start_in_process(cfg)
        server.wait_subscribed()
        gevent.sleep(3)  # 10 ping intervals: a missing pong (no frame for 0.6 s) would end the connection
        assert [json.loads(m) for m in server.received if m] == [EXPECTED_SUBSCRIBE["binance"]]
        assert "" not in server.received  # no empty text frames
        assert (server.connects, source_health(service)["reconnects"]) == (1, 0)
    finally:
        server.close()


@pytest.mark.parametrize("keep_from", [0, 8])
def test_trades_missed_while_disconnected_are_recovered_or_counted_as_lost(
    keep_from: int, make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server, history = FakeExchange("binance"), BinanceHistoryServer()
    history.keep_from = keep_from
    try:
        service = start_in_process(ws_config(make_config, "binance", server.url, rest_url=history.url))
        server.wait_subscribed()
        now = int(time.time() * 1000) - 2000
        prices = {n: f"{100 + n}.25" for n in range(1, 12)}
        server.send(*(history.trade("BTCUSDT", n, prices[n], now + n) for n in range(1, 6)))
        wait_for(lambda: source_health(service)["ticks"] == 5, message="5 trades")
        server.drop_clients()
        for n in range(6, 11):  # made while nobody listens
            history.trade("BTCUSDT", n, prices[n], now + n)
        server.wait_subscribed(2)
        server.send(history.trade("BTCUSDT", 11, prices[11], now + 11))
        kept = [n for n in range(1, 12) if n <= 5 or n >= max(keep_from, 6)]
        average = wait_for(
            lambda: (a := queryable_average(service, "binance")) and a["count"] == len(kept) and a, message="all"
        )
        assert average["price"] == pytest.approx(sum(float(prices[n]) for n in kept) / len(kept))
        health = source_health(service)
        assert (health["duplicates"], health["recovered"]) == (0, len(kept) - 6)
        assert history.requests[0]["fromId"] == "6"
        if keep_from:
            assert health["gaps_count"] == 1
            assert [(g["symbol"], g["lost"]) for g in health["gaps"]] == [("BTCUSDT", 2)]
            assert average["partial"] is True
            assert "2 trades of binance BTCUSDT lost" in average["partial_reason"]
            assert "partial" not in service.get("/prices/average/binance/ETHUSDT")[1]
            # Every answer over that span says so: all exchanges, the extremes, the candles, JSON and CSV.
            for path in ("average/BTCUSDT", "highest/BTCUSDT", "lowest/binance/BTCUSDT", "highest/binance/BTCUSDT"):
                answer = service.get(f"/prices/{path}?period=1m")[1]
                assert answer["partial_reason"] == average["partial_reason"], path
            for path in ("/candles/BTCUSDT?interval=1m&limit=2", "/candles/binance/BTCUSDT?interval=1s&limit=60"):
                assert service.get(path)[1]["partial_reason"] == average["partial_reason"], path
            csv = service.request("GET", "/candles/BTCUSDT?format=csv&limit=2")
            assert csv.headers["X-Partial-Reason"] == average["partial_reason"]
        else:
            assert (health["gaps_count"], health["gaps"]) == (0, [])
            assert "partial" not in average
    finally:
        server.close()
        history.close()


def test_a_connection_age_cut_overlaps_the_new_connection_and_loses_nothing(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    server, history = FakeExchange("binance"), BinanceHistoryServer()
    try:
        cfg = ws_config(make_config, "binance", server.url, rest_url=history.url, max_connection_age_seconds=2)
        service = start_in_process(cfg)
        server.wait_subscribed()
        start = int(time.time() * 1000) - 5000
        n = 0
        while server.connects < 2 or n < 60:  # a trade every 50 ms, to every open connection, through the cut
            n += 1
            server.send(history.trade("BTCUSDT", n, f"{1000 + n}.5", start + n))
            gevent.sleep(0.05)
        wait_for(lambda: server.open_connections() == 1, message="the old connection closed")
        average = wait_for(lambda: (a := queryable_average(service, "binance")) and a["count"] == n and a, message="n")
        assert average["price"] == pytest.approx(sum(1000 + i + 0.5 for i in range(1, n + 1)) / n)
        health = source_health(service)
        assert health["duplicates"] > 0  # both connections carried the overlap, counted once
        assert (health["gaps_count"], health["recovered"], health["reconnects"]) == (0, 0, 0)
        assert history.requests == []
    finally:
        server.close()
        history.close()


def test_a_planned_reconnects_new_connection_ending_first_closes_the_old_one_too(
    make_config: Callable[..., dict], start_in_process: Start
) -> None:
    """The old connection is read on until the new one carries trades; if the new one ends before that, the old
    one ends with it (its reader was left running, reading on after the feed had moved on)."""
    server = FakeExchange("binance")
    try:
        cfg = ws_config(make_config, "binance", server.url, max_connection_age_seconds=2)
        cfg["sources"]["live"] |= {"reconnect_initial_seconds": 5, "reconnect_max_seconds": 5}
        start_in_process(cfg)
        server.wait_subscribed()
        wait_for(lambda: server.connects == 2 and server.open_connections() == 2, message="the overlap's new one")
        server.close_newest()
        # Until the next attempt (5 s of backoff) no connection of the feed is left open.
        wait_for(lambda: server.open_connections() == 0, timeout=3, message="the old connection closed too")
        assert server.connects == 2
    finally:
        server.close()


def test_a_silent_symbol_is_flagged_and_resubscribed(make_config: Callable[..., dict], start_in_process: Start) -> None:
    server = FakeExchange("binance")
    try:
        service = start_in_process(ws_config(make_config, "binance", server.url, symbol_silence_seconds=1))
        server.wait_subscribed()
        for _ in range(80):  # BTCUSDT trades, ETHUSDT stays silent
            server.send(binance_trade("BTCUSDT", "96000.5", int(time.time() * 1000)))
            gevent.sleep(0.05)
            if '"ethusdt@trade"' in "".join(server.received[1:]):
                break
        resubscribes = [json.loads(m) for m in server.received[1:] if "SUBSCRIBE" in m]
        assert resubscribes[0] == {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 2}  # the connection's 2nd
        health = source_health(service)
        assert health["symbols"] == {"subscribing": 0, "live": 1, "silent": 1, "refused": 0, "delisted": 0}
        assert health["resubscribes"] >= 1
        assert health["state"] == "connected"
    finally:
        server.close()
