"""The wide exchanges themselves, driven by a raw WebSocket client and plain HTTP: each documented limit is
enforced and recorded, REST answers in the documented shapes, the listing changes show, and a trade reaches
exactly the connections subscribed to it. Limits are shrunk where the real ones would take long to reach.
"""

import base64
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.adapters.feeds.exchanges import EXCHANGE_KINDS, EXCHANGES, REGISTERED
from app.adapters.net.connector import Connector, tls_context
from app.application.proxy_routing import ProxyRouter
from app.domain.missed_trades import Missing, TradeMark
from app.domain.proxy_settings import ProxySettings
from tests.support.net import wait_for
from tests.support.wide import WIDE_EXCHANGES, WideExchange, wide_exchange

KINDS = list(EXCHANGE_KINDS)
# The exchanges whose REST history the service reads for what a stream missed.
HISTORY_KINDS = [exchange.kind for exchange in REGISTERED if exchange.history is not None]
T0 = 1_763_712_000_000


# ---- a raw client -------------------------------------------------------------------------------------------


def dashed(symbol: str) -> str:
    return f"{symbol[:-4]}-{symbol[-4:]}"


def subscribe(kind: str, ws: ClientConnection, symbols: list[str]) -> None:
    """Subscribe to the trades of ``symbols`` (ending in USDT) as a client of ``kind`` does."""
    if kind == "binance":
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": [f"{s.lower()}@trade" for s in symbols], "id": 1}))
    elif kind == "bybit":
        ws.send(json.dumps({"op": "subscribe", "req_id": "1", "args": [f"publicTrade.{s}" for s in symbols]}))
    elif kind == "okx":
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "trades", "instId": dashed(s)} for s in symbols]}))
    elif kind == "coinbase":
        ws.send(
            json.dumps({"type": "subscribe", "product_ids": [dashed(s) for s in symbols], "channel": "market_trades"})
        )
    else:
        pairs = [f"{s[:-4]}/{s[-4:]}" for s in symbols]
        ws.send(json.dumps({"method": "subscribe", "params": {"channel": "trade", "symbol": pairs}, "req_id": 1}))


def trade_symbols(kind: str, raw: str) -> list[str]:
    """The symbols (ours) of the live trades in one message, [] for anything else."""
    message = json.loads(raw) if raw.startswith("{") else {}
    if kind == "binance":
        return [message["s"]] if message.get("e") == "trade" else []
    if kind == "bybit":
        return [t["s"] for t in message.get("data", [])] if "topic" in message else []
    if kind == "okx":
        return [t["instId"].replace("-", "") for t in message.get("data", [])] if "arg" in message else []
    if kind == "coinbase":
        updates = [e for e in message.get("events", []) if e.get("type") == "update"]
        return [t["product_id"].replace("-", "") for e in updates for t in e["trades"]]
    if message.get("channel") == "trade" and message.get("type") == "update":
        return [t["symbol"].replace("/", "") for t in message["data"]]
    return []


def drain(ws: ClientConnection, seconds: float = 0.3) -> list[str]:
    """Every message that arrives within ``seconds`` (shorter if the connection closes)."""
    messages: list[str] = []
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                messages.append(str(ws.recv(timeout=left)))
            except TimeoutError:
                break
    except ConnectionClosed:
        pass
    return messages


def replies(ws: ClientConnection, count: int, timeout: float = 3.0) -> list[dict]:
    """The next ``count`` JSON messages."""
    return [json.loads(ws.recv(timeout=timeout)) for _ in range(count)]


def closed_with(ws: ClientConnection, timeout: float = 3.0) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            ws.recv(timeout=left)
    except ConnectionClosed:
        return ws.close_code, ws.close_reason
    except TimeoutError:
        pass
    raise AssertionError(f"still open after {timeout}s")


def silent_client(url: str) -> socket.socket:
    """A WebSocket client that opens the connection and then answers nothing, not even a ping."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def server_frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """(opcode, payload) of each frame the server sends, up to its close frame."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    while True:
        try:
            head = exactly(2)
            size = head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", exactly(2))[0]
            opcode = head[0] & 0x0F
            yield opcode, exactly(size)
        except EOFError:
            return
        if opcode == 0x8:
            return


def get(url: str) -> tuple[int, dict[str, str], object]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def make() -> Iterator[Callable[..., WideExchange]]:
    """Makes wide exchanges (listing BTCUSDT, ETHUSDT, SOLUSDT) and closes them after the test."""
    made: list[WideExchange] = []

    def build(kind: str, **options: object) -> WideExchange:
        exchange = wide_exchange(kind, **options)
        made.append(exchange)
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            exchange.list(symbol)
        return exchange

    yield build
    for exchange in made:
        exchange.close()


# ---- every exchange ------------------------------------------------------------------------------------------


def test_every_registered_exchange_has_a_wide_stand_in_and_its_rest_paths() -> None:
    """A new exchange in the registry fails here until its wide exchange and REST paths are written, rather than
    going untested (tests/service/test_wide_market.py runs over the same registry)."""
    assert set(WIDE_EXCHANGES) == set(KINDS), "WIDE_EXCHANGES (tests/support/wide)"
    assert set(DISCOVERY) == set(KINDS), "DISCOVERY"
    assert set(HISTORY) == set(HISTORY_KINDS), "HISTORY"


@pytest.mark.parametrize("kind", KINDS)
def test_a_trade_reaches_exactly_the_connections_subscribed_to_it(make: Callable, kind: str) -> None:
    exchange = make(kind)
    with connect(exchange.url) as first, connect(exchange.url) as second:
        subscribe(kind, first, ["BTCUSDT", "ETHUSDT"])
        wait_for(lambda: exchange.subscribed() == {"BTCUSDT", "ETHUSDT"})
        subscribe(kind, second, ["BTCUSDT"])
        wait_for(lambda: sorted(len(c.symbols) for c in exchange.connections()) == [1, 2])
        drain(first, 0.1), drain(second, 0.1)  # acks and snapshots

        assert exchange.trade("BTCUSDT", "100.5", T0) == 2  # subscribed twice: sent twice, as an exchange does
        assert exchange.trade("ETHUSDT", "20.25", T0 + 1, qty="3") == 1
        assert exchange.trade("SOLUSDT", "1.5", T0 + 2) == 0  # listed, nobody subscribed

        got_first = [s for m in drain(first) for s in trade_symbols(kind, m)]
        got_second = [s for m in drain(second) for s in trade_symbols(kind, m)]
    assert got_first == ["BTCUSDT", "ETHUSDT"]
    assert got_second == ["BTCUSDT"]
    assert [exchange.trades_sent(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == [1, 1, 0]
    assert exchange.violations == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_market_that_does_not_trade_has_no_trades(make: Callable, kind: str) -> None:
    exchange = make(kind)
    exchange.delist("SOLUSDT")
    with pytest.raises(ValueError, match="not trading"):
        exchange.trade("SOLUSDT", "1", T0)
    with pytest.raises(ValueError, match="not trading"):
        exchange.trade("XYZUSDT", "1", T0)


DISCOVERY = {
    "binance": "/api/v3/exchangeInfo",
    "bybit": "/v5/market/instruments-info?category=spot",
    "okx": "/api/v5/public/instruments?instType=SPOT",
    "coinbase": "/api/v3/brokerage/market/products",
    "kraken": "/0/public/AssetPairs",
}


@pytest.mark.parametrize("kind", KINDS)
def test_rest_can_be_down_refusing_or_rate_limited_and_counts_requests_per_path(make: Callable, kind: str) -> None:
    exchange = make(kind)
    url = exchange.rest_url + DISCOVERY[kind]
    path = urlsplit(url).path
    assert get(url)[0] == 200

    exchange.rest_down = True
    assert get(url)[0] == 503
    exchange.rest_down = "refused"
    with pytest.raises(urllib.error.URLError) as refused:
        get(url)
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    exchange.rest_down = False
    assert get(url)[0] == 200

    exchange.rest_rate_limited = 7
    status, headers, _ = get(url)
    assert (status, headers["Retry-After"]) == (403 if kind == "bybit" else 429, "7")
    exchange.rest_rate_limited = 0
    assert get(url)[0] == 200
    assert exchange.rest_requests[path] == 5  # the refused request never reached it
    assert exchange.violations == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_rest_path_past_its_documented_budget_is_refused_and_recorded(kind: str) -> None:
    path = urlsplit(DISCOVERY[kind]).path
    with wide_exchange(kind, rest_limits={path: (2, 60.0)}) as exchange:
        statuses = [get(exchange.rest_url + DISCOVERY[kind])[0] for _ in range(3)]
        status, headers, _ = get(exchange.rest_url + DISCOVERY[kind])
    assert statuses[:2] == [200, 200]
    assert statuses[2] == status == exchange.rate_limited_status
    assert 55 <= int(headers["Retry-After"]) <= 60
    assert [v.rule for v in exchange.violations] == ["rest_rate", "rest_rate"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_handshake_on_another_path_is_refused_and_recorded(make: Callable, kind: str) -> None:
    exchange = make(kind)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{exchange.port}/elsewhere")
    assert refused.value.response.status_code == 404
    assert [v.rule for v in exchange.violations] == ["wrong_path"]
    assert [h.status for h in exchange.handshakes] == [404]


def test_drop_and_close_connections_end_every_open_connection(make: Callable) -> None:
    exchange = make("binance")
    with connect(exchange.url) as first, connect(exchange.url) as second:
        wait_for(lambda: len(exchange.connections()) == 2)
        exchange.close_connections(1012, "service restart")
        assert closed_with(first) == (1012, "service restart")
        assert closed_with(second) == (1012, "service restart")
    with connect(exchange.url) as third:
        wait_for(lambda: len(exchange.connections()) == 1)
        exchange.drop_connections()
        assert closed_with(third)[0] == 1006  # no close frame: the TCP connection was cut
    wait_for(lambda: exchange.connections() == [])


# ---- Binance ---------------------------------------------------------------------------------------------------


def test_binance_acknowledges_unknown_streams_which_stay_silent_and_lists_subscriptions(make: Callable) -> None:
    exchange = make("binance")
    with connect(exchange.url) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "xyzusdt@trade"], "id": 7}))
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "list"}))
        assert replies(ws, 2) == [
            {"result": None, "id": 7},
            {"result": ["btcusdt@trade", "xyzusdt@trade"], "id": "list"},
        ]
        exchange.list("XYZUSDT")  # listed later: the stream named before starts
        exchange.trade("XYZUSDT", "1.5", T0)
        assert json.loads(ws.recv(timeout=2))["s"] == "XYZUSDT"
        ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["xyzusdt@trade"], "id": 8}))
        assert replies(ws, 1) == [{"result": None, "id": 8}]
    assert exchange.violations == []


def test_binance_refuses_the_stream_past_the_cap_then_closes_the_connection(make: Callable) -> None:
    exchange = make("binance", max_streams_per_connection=50)
    with connect(exchange.url) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": [f"s{n}usdt@trade" for n in range(50)], "id": 1}))
        assert replies(ws, 1) == [{"result": None, "id": 1}]
        assert exchange.violations == []
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["s50usdt@trade"], "id": 2}))
        assert replies(ws, 1) == [{"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 2}]
        assert closed_with(ws) == (1008, "Invalid request")
    assert [v.rule for v in exchange.violations] == ["streams_per_connection"]


def test_binance_closes_a_connection_at_the_sixth_message_in_a_second_pings_included(make: Callable) -> None:
    exchange = make("binance")
    with connect(exchange.url) as paced:
        for n in range(6):  # 5 a second at most, evenly spaced: fine
            paced.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
            time.sleep(0.25)
        assert len(drain(paced, 0.2)) == 6
    assert exchange.violations == []

    with connect(exchange.url) as hasty:
        for _ in range(3):
            hasty.ping()
        for n in range(3):
            hasty.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
        assert closed_with(hasty) == (1008, "Too many requests")
    assert [v.rule for v in exchange.violations] == ["message_rate"]


def test_binance_leaves_a_request_over_4096_bytes_unanswered(make: Callable) -> None:
    exchange = make("binance")
    streams = [f"symbol{n:04d}usdt@trade" for n in range(200)]
    with connect(exchange.url) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}))
        assert drain(ws, 0.5) == []
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams[:150], "id": 2}))
        assert replies(ws, 1) == [{"result": None, "id": 2}]
    assert [v.rule for v in exchange.violations] == ["frame_size"]


def test_binance_pings_and_closes_a_connection_that_does_not_answer(make: Callable) -> None:
    exchange = make("binance", ping_interval=0.2, pong_timeout=0.6)
    with connect(exchange.url):  # websockets answers pings by itself
        time.sleep(0.9)
        assert exchange.connections()[0].frames_in >= 3  # its pongs
    assert exchange.violations == []

    mute = silent_client(exchange.url)
    frames = list(server_frames(mute))
    mute.close()
    assert frames[0] == (0x9, frames[0][1])  # a ping
    opcode, payload = frames[-1]
    assert (opcode, struct.unpack("!H", payload[:2])[0], payload[2:]) == (0x8, 1008, b"Pong timeout")
    assert [v.rule for v in exchange.violations] == ["pong_timeout"]


def test_binance_refuses_handshakes_past_its_budget_with_retry_after(make: Callable) -> None:
    exchange = make("binance", handshake_limit=(2, 60.0))
    for _ in range(2):
        with connect(exchange.url):
            pass
    with pytest.raises(InvalidStatus) as refused:
        connect(exchange.url)
    assert refused.value.response.status_code == 429
    assert 55 <= int(refused.value.response.headers["Retry-After"]) <= 60
    assert [h.status for h in exchange.handshakes] == [101, 101, 429]
    assert [v.rule for v in exchange.violations] == ["handshake_rate"]


def test_binance_announces_a_server_shutdown(make: Callable) -> None:
    exchange = make("binance")
    with connect(exchange.url) as ws:
        wait_for(exchange.connections)
        exchange.announce_shutdown()
        assert json.loads(ws.recv(timeout=2))["e"] == "serverShutdown"


def test_binance_exchange_info_shows_status_and_permission_sets(make: Callable) -> None:
    exchange = make("binance")
    exchange.halt("ETHUSDT")
    exchange.delist("SOLUSDT")
    _, _, info = get(exchange.rest_url + "/api/v3/exchangeInfo")
    assert isinstance(info, dict)
    rows = {s["symbol"]: s for s in info["symbols"]}
    assert {name: row["status"] for name, row in rows.items()} == {
        "BTCUSDT": "TRADING",
        "ETHUSDT": "HALT",
        "SOLUSDT": "BREAK",
    }
    btc = rows["BTCUSDT"]
    assert (btc["baseAsset"], btc["quoteAsset"], btc["isSpotTradingAllowed"]) == ("BTC", "USDT", True)
    assert (btc["permissions"], btc["permissionSets"]) == ([], [["SPOT"]])
    assert rows["SOLUSDT"]["isSpotTradingAllowed"] is False
    _, _, trading = get(exchange.rest_url + "/api/v3/exchangeInfo?symbolStatus=TRADING")
    assert [s["symbol"] for s in trading["symbols"]] == ["BTCUSDT"]  # type: ignore[index]
    assert get(exchange.rest_url + "/api/v3/exchangeInfo?symbol=NOPE")[2] == {"code": -1121, "msg": "Invalid symbol."}


# ---- Bybit -------------------------------------------------------------------------------------------------------


def test_bybit_refuses_more_than_10_args_in_one_request(make: Callable) -> None:
    exchange = make("bybit")
    with connect(exchange.url) as ws:
        ws.send(json.dumps({"op": "subscribe", "req_id": "a", "args": ["publicTrade.BTCUSDT"] * 11}))
        (reply,) = replies(ws, 1)
    assert reply["success"] is False
    assert (reply["ret_msg"], reply["req_id"], reply["op"]) == ("args size >10", "a", "subscribe")
    assert exchange.subscribed() == set()
    assert [v.rule for v in exchange.violations] == ["args_per_request"]


def test_bybit_refuses_an_unknown_symbol_and_subscribes_the_rest_on_spot(make: Callable) -> None:
    exchange = make("bybit")
    exchange.delist("SOLUSDT")
    with connect(exchange.url) as ws:
        subscribe("bybit", ws, ["BTCUSDT", "XYZUSDT", "SOLUSDT"])
        (reply,) = replies(ws, 1)
        assert exchange.subscribed() == {"BTCUSDT"}
    assert (reply["success"], reply["ret_msg"]) == (False, "Invalid symbol :[publicTrade.XYZUSDT,publicTrade.SOLUSDT]")
    assert reply["conn_id"] == exchange.refusals[0].conn_id
    assert [r.topic for r in exchange.refusals] == ["publicTrade.XYZUSDT", "publicTrade.SOLUSDT"]
    assert exchange.violations == []  # a refusal is not a broken limit


def test_bybit_can_refuse_the_whole_request_for_one_bad_topic_as_on_linear(make: Callable) -> None:
    exchange = make("bybit", refuse_whole_request=True)
    with connect(exchange.url) as ws:
        subscribe("bybit", ws, ["BTCUSDT", "XYZUSDT"])
        assert replies(ws, 1)[0]["success"] is False
        subscribe("bybit", ws, ["BTCUSDT"])
        assert replies(ws, 1)[0]["success"] is True
        assert exchange.subscribed() == {"BTCUSDT"}
    assert [r.topic for r in exchange.refusals] == ["publicTrade.XYZUSDT", "publicTrade.BTCUSDT"]


def test_bybit_refuses_a_subscribe_past_21000_characters_of_args_on_a_connection(make: Callable) -> None:
    exchange = make("bybit", max_args_chars=60)  # three topics of 19 characters fit, a fourth does not
    with connect(exchange.url) as ws:
        subscribe("bybit", ws, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
        assert replies(ws, 1)[0]["success"] is True
        exchange.list("XRPUSDT")
        subscribe("bybit", ws, ["XRPUSDT"])
        (reply,) = replies(ws, 1)
        assert exchange.subscribed() == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert reply["success"] is False
    assert "exceeds 60 characters per connection" in reply["ret_msg"]
    assert [v.rule for v in exchange.violations] == ["args_chars"]


def test_bybit_answers_ping_and_closes_a_silent_connection(make: Callable) -> None:
    exchange = make("bybit", idle_timeout=0.5)
    with connect(exchange.url) as ws:
        for _ in range(3):
            ws.send(json.dumps({"op": "ping", "req_id": "p"}))
            (pong,) = replies(ws, 1)
            assert (pong["success"], pong["ret_msg"], pong["op"], pong["req_id"]) == (True, "pong", "ping", "p")
            time.sleep(0.3)
        assert exchange.violations == []
        assert closed_with(ws)[0] == 1000
    assert [v.rule for v in exchange.violations] == ["idle"]


def test_bybit_lists_only_trading_spot_markets_and_has_no_halt(make: Callable) -> None:
    exchange = make("bybit")
    exchange.delist("SOLUSDT")
    with pytest.raises(ValueError, match="no halted state"):
        exchange.halt("ETHUSDT")
    _, _, answer = get(exchange.rest_url + "/v5/market/instruments-info?category=spot")
    assert isinstance(answer, dict)
    assert (answer["retCode"], answer["retMsg"], answer["result"]["nextPageCursor"]) == (0, "OK", "")
    rows = answer["result"]["list"]
    assert [(r["symbol"], r["status"], r["baseCoin"], r["quoteCoin"]) for r in rows] == [
        ("BTCUSDT", "Trading", "BTC", "USDT"),
        ("ETHUSDT", "Trading", "ETH", "USDT"),
    ]


# ---- OKX ----------------------------------------------------------------------------------------------------------


def test_okx_acknowledges_each_arg_and_answers_60018_for_an_unknown_instrument(make: Callable) -> None:
    exchange = make("okx")
    with connect(exchange.url) as ws:
        subscribe("okx", ws, ["BTCUSDT", "XYZUSDT"])
        ack, error = replies(ws, 2)
        assert exchange.subscribed() == {"BTCUSDT"}
    assert ack == {"event": "subscribe", "arg": {"channel": "trades", "instId": "BTC-USDT"}, "connId": ack["connId"]}
    assert error == {
        "event": "error",
        "code": "60018",
        "msg": "Wrong URL or channel:trades,instId:XYZ-USDT doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document.",
        "connId": ack["connId"],
    }
    assert exchange.violations == []


def test_okx_answers_60014_past_the_hourly_request_budget(make: Callable) -> None:
    exchange = make("okx", requests_per_hour=2)
    with connect(exchange.url) as ws:
        subscribe("okx", ws, ["BTCUSDT", "ETHUSDT"])  # many args: one request
        subscribe("okx", ws, ["SOLUSDT"])
        assert [r["event"] for r in replies(ws, 3)] == ["subscribe"] * 3
        ws.send(json.dumps({"op": "unsubscribe", "args": [{"channel": "trades", "instId": "SOL-USDT"}]}))
        (error,) = replies(ws, 1)
        assert exchange.subscribed() == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}  # not acted on
    assert (error["event"], error["code"], error["msg"]) == ("error", "60014", "Requests too frequent")
    assert [v.rule for v in exchange.violations] == ["request_rate"]


def test_okx_closes_with_4008_past_the_channel_cap_and_1009_past_64_kb(make: Callable) -> None:
    exchange = make("okx", max_channels_per_connection=2)
    with connect(exchange.url) as ws:
        subscribe("okx", ws, ["BTCUSDT", "ETHUSDT"])
        replies(ws, 2)
        subscribe("okx", ws, ["SOLUSDT"])
        assert closed_with(ws) == (4008, "The number of subscribed channels exceeds the maximum limit")
    with connect(exchange.url) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "trades", "instId": "B" * 70_000}]}))
        assert closed_with(ws) == (1009, "Request message exceeds the maximum frame length")
    assert [v.rule for v in exchange.violations] == ["channels_per_connection", "request_size"]


def test_okx_pongs_a_ping_and_closes_with_4004_after_30_s_of_nothing(make: Callable) -> None:
    exchange = make("okx", idle_timeout=0.5)
    with connect(exchange.url) as ws:
        for _ in range(3):
            ws.send("ping")
            assert ws.recv(timeout=2) == "pong"
            time.sleep(0.3)
        assert exchange.violations == []
        assert closed_with(ws) == (4004, "No data received in 0.5s")
    assert [v.rule for v in exchange.violations] == ["idle"]


def test_okx_refuses_a_fourth_connection_in_a_second(make: Callable) -> None:
    exchange = make("okx")
    with connect(exchange.url), connect(exchange.url), connect(exchange.url), pytest.raises(InvalidStatus) as refused:
        connect(exchange.url)
    assert refused.value.response.status_code == 429
    assert [v.rule for v in exchange.violations] == ["handshake_rate"]


def test_okx_notice_and_instruments_channel(make: Callable) -> None:
    exchange = make("okx")
    with connect(exchange.url) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "instruments", "instType": "SPOT"}]}))
        assert replies(ws, 1)[0]["event"] == "subscribe"
        exchange.list("XRPUSDT")
        exchange.halt("ETHUSDT")
        listed, halted = replies(ws, 2)
        exchange.announce_shutdown()
        (notice,) = replies(ws, 1)
    assert [(m["data"][0]["instId"], m["data"][0]["state"]) for m in (listed, halted)] == [
        ("XRP-USDT", "live"),
        ("ETH-USDT", "suspend"),
    ]
    assert (notice["event"], notice["code"]) == ("notice", "64008")


def test_okx_instruments_drop_a_delisted_market(make: Callable) -> None:
    exchange = make("okx")
    exchange.halt("ETHUSDT")
    exchange.delist("SOLUSDT")
    _, _, answer = get(exchange.rest_url + "/api/v5/public/instruments?instType=SPOT")
    assert isinstance(answer, dict)
    assert (answer["code"], answer["msg"]) == ("0", "")
    assert [(r["instId"], r["instType"], r["baseCcy"], r["quoteCcy"], r["state"]) for r in answer["data"]] == [
        ("BTC-USDT", "SPOT", "BTC", "USDT", "live"),
        ("ETH-USDT", "SPOT", "ETH", "USDT", "suspend"),
    ]
    with connect(exchange.url) as ws:
        subscribe("okx", ws, ["SOLUSDT"])
        assert replies(ws, 1)[0]["code"] == "60018"


# ---- Coinbase -----------------------------------------------------------------------------------------------------


def test_coinbase_fails_the_whole_subscribe_for_one_unknown_product(make: Callable) -> None:
    exchange = make("coinbase")
    with connect(exchange.url) as ws:
        subscribe("coinbase", ws, ["BTCUSDT", "XYZUSDT"])
        assert replies(ws, 1) == [
            {"type": "error", "message": "Failed to subscribe", "reason": "XYZ-USDT is not a valid product"}
        ]
        assert exchange.subscribed() == set()
        ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USDT"], "channel": "heartbeats"}))
        subscribe("coinbase", ws, ["BTCUSDT", "ETHUSDT"])
        beats_ack, trades_ack, snapshot = replies(ws, 3)
        heartbeat = json.loads(ws.recv(timeout=3))
    assert beats_ack["events"] == [{"subscriptions": {"heartbeats": ["heartbeats"]}}]
    assert trades_ack["events"] == [
        {"subscriptions": {"heartbeats": ["heartbeats"], "market_trades": ["BTC-USDT", "ETH-USDT"]}}
    ]
    assert snapshot["events"][0]["type"] == "snapshot"
    assert heartbeat["channel"] == "heartbeats"
    assert heartbeat["events"][0]["heartbeat_counter"] == 1
    assert [m["sequence_num"] for m in (beats_ack, trades_ack, snapshot, heartbeat)] == [1, 2, 3, 4]
    assert exchange.violations == []


def test_coinbase_closes_a_connection_without_a_subscribe_within_5_s(make: Callable) -> None:
    exchange = make("coinbase", subscribe_timeout=0.3)
    with connect(exchange.url) as ws:
        assert closed_with(ws)[0] == 1008
    assert [v.rule for v in exchange.violations] == ["no_subscribe"]


def test_coinbase_refuses_a_ninth_message_in_a_second_and_two_channels_in_one(make: Callable) -> None:
    exchange = make("coinbase")
    with connect(exchange.url) as ws:
        for _ in range(9):
            ws.send(json.dumps({"type": "subscribe", "channel": "heartbeats"}))
        answers = replies(ws, 9)
        time.sleep(1.05)
        ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USDT"], "channels": ["market_trades"]}))
        (two_channels,) = [m for m in map(json.loads, drain(ws, 0.5)) if m.get("type") == "error"]
    assert [a["channel"] for a in answers[:8]] == ["subscriptions"] * 8
    assert answers[8] == {"type": "error", "message": "rate limit exceeded"}
    assert (two_channels["type"], two_channels["message"]) == ("error", "Failed to subscribe")
    assert [v.rule for v in exchange.violations] == ["message_rate", "channels_per_message"]


def test_coinbase_ends_quiet_market_trades_of_a_socket_without_heartbeats(make: Callable) -> None:
    exchange = make("coinbase", quiet_timeout=0.4)
    with connect(exchange.url) as ws:
        subscribe("coinbase", ws, ["BTCUSDT"])
        wait_for(lambda: exchange.subscribed() == {"BTCUSDT"})
        wait_for(lambda: exchange.subscribed() == set(), timeout=3)
        assert exchange.trade("BTCUSDT", "1", T0) == 0
    assert [v.rule for v in exchange.violations] == ["quiet_without_heartbeats"]


def test_coinbase_products_page_by_cursor_and_show_delisted_and_halted(make: Callable) -> None:
    exchange = make("coinbase", default_page_size=2)
    exchange.halt("ETHUSDT")
    exchange.delist("SOLUSDT")
    base = exchange.rest_url + "/api/v3/brokerage/market/products"
    _, _, first = get(base)
    assert isinstance(first, dict)
    assert [p["product_id"] for p in first["products"]] == ["BTC-USDT", "ETH-USDT"]
    assert first["num_products"] == 2
    assert first["pagination"]["has_next"] is True
    cursor = first["pagination"]["next_cursor"]
    assert base64.b64decode(cursor) == b"ETH-USDT"
    _, _, second = get(f"{base}?cursor={cursor}")
    assert isinstance(second, dict)
    assert second["pagination"]["has_next"] is False
    products = {p["product_id"]: p for p in first["products"] + second["products"]}
    assert {k: (p["status"], p["trading_disabled"]) for k, p in products.items()} == {
        "BTC-USDT": ("online", False),
        "ETH-USDT": ("online", True),
        "SOL-USDT": ("delisted", True),
    }
    assert (products["BTC-USDT"]["base_currency_id"], products["BTC-USDT"]["quote_currency_id"]) == ("BTC", "USDT")
    _, _, limited = get(f"{base}?limit=1&offset=2")
    assert [p["product_id"] for p in limited["products"]] == ["SOL-USDT"]  # type: ignore[index]


# ---- Kraken -------------------------------------------------------------------------------------------------------


def test_kraken_acknowledges_each_symbol_and_refuses_the_rest_spelling(make: Callable) -> None:
    exchange = make("kraken")
    exchange.trade("BTCUSDT", "100", T0)
    with connect(exchange.url) as ws:
        request = {"channel": "trade", "symbol": ["BTC/USDT", "XBT/USDT", "XYZ/USDT"]}
        ws.send(json.dumps({"method": "subscribe", "params": request, "req_id": 5}))
        ack, snapshot, wrong_spelling, unknown = replies(ws, 4)
        heartbeat = json.loads(ws.recv(timeout=3))
        ws.send(json.dumps({"method": "ping", "req_id": 6}))
        (pong,) = [m for m in map(json.loads, drain(ws, 0.5)) if m.get("method") == "pong"]
    assert {k: ack[k] for k in ("method", "result", "success", "req_id")} == {
        "method": "subscribe",
        "result": {"channel": "trade", "symbol": "BTC/USDT", "snapshot": True},
        "success": True,
        "req_id": 5,
    }
    assert (snapshot["type"], [t["price"] for t in snapshot["data"]]) == ("snapshot", [100.0])
    assert {k: wrong_spelling[k] for k in ("error", "method", "success", "symbol", "req_id")} == {
        "error": "Currency pair not supported XBT/USDT",
        "method": "subscribe",
        "success": False,
        "symbol": "XBT/USDT",
        "req_id": 5,
    }
    assert unknown["error"] == "Currency pair not supported XYZ/USDT"
    assert heartbeat == {"channel": "heartbeat"}
    assert pong["req_id"] == 6
    assert exchange.violations == []


def test_kraken_asset_pairs_use_its_old_codes(make: Callable) -> None:
    exchange = make("kraken")
    exchange.list("BTCUSD")
    exchange.list("DOGEUSD")
    exchange.halt("ETHUSDT")
    exchange.delist("SOLUSDT")
    _, _, answer = get(exchange.rest_url + "/0/public/AssetPairs")
    assert isinstance(answer, dict)
    assert answer["error"] == []
    pairs = answer["result"]
    assert {key: (p["altname"], p["wsname"], p["base"], p["quote"], p["status"]) for key, p in pairs.items()} == {
        "XBTUSDT": ("XBTUSDT", "XBT/USDT", "XXBT", "USDT", "online"),
        "ETHUSDT": ("ETHUSDT", "ETH/USDT", "XETH", "USDT", "cancel_only"),
        "XXBTZUSD": ("XBTUSD", "XBT/USD", "XXBT", "ZUSD", "online"),
        "XDGUSD": ("XDGUSD", "XDG/USD", "XXDG", "ZUSD", "online"),
    }
    assert get(exchange.rest_url + "/0/public/AssetPairs?pair=NOPE")[2] == {"error": ["EQuery:Unknown asset pair"]}


# ---- REST trade history, read by the service's own backfill ------------------------------------------------------


HISTORY = {
    "binance": "/api/v3/historicalTrades",
    "bybit": "/v5/market/recent-trade",
    "okx": "/api/v5/market/history-trades",
}
DIRECT_ONLY = Connector(ProxyRouter(ProxySettings(False, "disabled", "fallback", [], None, 60, 300)))


@pytest.mark.parametrize("kind", HISTORY_KINDS)
def test_the_service_backfill_recovers_a_gap_from_the_history_of_trades_sent(make: Callable, kind: str) -> None:
    exchange = make(kind)
    for n in range(1, 41):
        exchange.trade("BTCUSDT", f"{100 + n}.5", T0 + n, qty="0.5")
    client = EXCHANGES[kind].rest_client(kind, exchange.rest_url, DIRECT_ONLY, 5.0, tls_context())
    history = EXCHANGES[kind].trade_history(kind, client, {})
    assert history is not None
    recovery = history.recover(Missing("BTCUSDT", TradeMark("10", T0 + 10), TradeMark("30", T0 + 30)))
    # Bybit's ids tell no order, so its backfill takes the span by time, the two trades at its ends included.
    expected = range(10, 31) if kind == "bybit" else range(11, 30)
    assert [int(t[4]) for t in recovery.trades] == list(expected)
    twelfth = next(t for t in recovery.trades if int(t[4]) == 12)
    assert (twelfth[0], twelfth[1], int(twelfth[2]), twelfth[3]) == ("BTCUSDT", "112.5", T0 + 12, "0.5")
    assert recovery.lost is None
    assert {path for path, _ in exchange.rest_log} == {HISTORY[kind]}


def test_history_keeps_only_the_latest_trades_when_told(make: Callable) -> None:
    exchange = make("binance", history_keep_last=5)
    for n in range(1, 11):
        exchange.trade("BTCUSDT", "1", T0 + n)
    _, _, rows = get(exchange.rest_url + "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1&limit=100")
    assert [r["id"] for r in rows] == [6, 7, 8, 9, 10]  # type: ignore[union-attr]
