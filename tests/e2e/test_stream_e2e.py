"""``/ws/prices`` against a real service: exact ticks, filters, slow clients, shutdown."""

import json
import signal
import socket
import time
from collections.abc import Callable

import websocket

from app.adapters.feeds.wire_line import encode_line
from app.domain.iso_instant import iso_ms
from tests.support.net import LineExchange, wait_for
from tests.support.service import Service


def connect(service: Service, query: str = "") -> websocket.WebSocket:
    return websocket.create_connection(f"ws://127.0.0.1:{service.port}/ws/prices{query}", timeout=10)


def receive(ws: websocket.WebSocket) -> dict:
    return json.loads(ws.recv())


def test_ticks_arrive_exactly_and_filters_apply(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service], exchanges: list[LineExchange]
) -> None:
    service = start_service(make_config())
    for exchange in exchanges:
        exchange.wait_connected()
    ws = connect(service, "?symbols=btcusdt&exchanges=exchange1,exchange2")
    assert receive(ws) == {"type": "subscribed", "symbols": ["BTCUSDT"], "exchanges": ["exchange1", "exchange2"]}
    now = int(time.time() * 1000)
    exchanges[2].send(encode_line("BTCUSDT", 1.0, now))  # another exchange: filtered out
    exchanges[0].send(encode_line("ETHUSDT", 2.0, now))  # another symbol: filtered out
    exchanges[0].send(encode_line("BTCUSDT", 96123.45, now - 1))
    exchanges[1].send(encode_line("BTCUSDT", 96124.5, now))
    got = sorted((receive(ws) for _ in range(2)), key=lambda m: m["ts"])
    assert got == [
        {
            "type": "tick",
            "exchange": "exchange1",
            "symbol": "BTCUSDT",
            "price": 96123.45,
            "timestamp": iso_ms(now - 1),
            "ts": now - 1,
        },
        {
            "type": "tick",
            "exchange": "exchange2",
            "symbol": "BTCUSDT",
            "price": 96124.5,
            "timestamp": iso_ms(now),
            "ts": now,
        },
    ]
    # Change the subscription on the fly; a bad one is an error message and changes nothing.
    ws.send(json.dumps({"subscribe": {"symbols": ["NOPE"]}}))
    assert receive(ws) == {"type": "error", "error": "unknown symbol 'NOPE'"}
    ws.send(json.dumps({"subscribe": {"symbols": ["ETHUSDT"]}}))
    assert receive(ws) == {"type": "subscribed", "symbols": ["ETHUSDT"], "exchanges": []}
    exchanges[2].send(encode_line("ETHUSDT", 3500.25, now))
    assert receive(ws)["price"] == 3500.25
    ws.send("not json")
    assert receive(ws)["type"] == "error"
    ws.close()


def test_a_client_of_one_worker_gets_the_ticks_every_worker_reads(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service], exchanges: list[LineExchange]
) -> None:
    service = start_service(make_config(http={"workers": 2}))

    def owners() -> set[str]:
        return {source["owner"] for source in service.get("/health")[1]["sources"]}

    wait_for(lambda: len(owners()) == 2 and None not in owners(), timeout=20, message="feeds over both workers")
    ws = connect(service, "?symbols=BTCUSDT")
    assert receive(ws)["type"] == "subscribed"
    # The other worker relays its ticks once its peer's heartbeat shows a client.
    wait_for(
        lambda: sum(p["websocket_clients"] for p in service.get("/health")[1]["processes"]) == 1,
        message="the client in a heartbeat",
    )
    time.sleep(0.5)  # a few lease polls: the other worker has read that heartbeat
    now = int(time.time() * 1000)
    for i, exchange in enumerate(exchanges, start=1):
        exchange.send(encode_line("BTCUSDT", 100.0 + i, now + i))
    got = sorted((receive(ws) for _ in range(3)), key=lambda m: m["ts"])
    assert [(m["exchange"], m["price"]) for m in got] == [
        ("exchange1", 101.0),
        ("exchange2", 102.0),
        ("exchange3", 103.0),
    ]
    ws.close()


def test_a_bad_first_subscription_is_refused_with_a_reason(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(make_config(mode="test"))
    ws = connect(service, "?exchanges=nasdaq")
    assert receive(ws) == {"type": "error", "error": "unknown exchange 'nasdaq'"}
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == 1008
    assert service.get("/ws/prices")[0] == 400  # plain HTTP gets a JSON 400


def fast_market(make_config: Callable[..., dict], max_send_seconds: float) -> dict:
    """About 22,000 synthetic ticks a second, and a stream that loses patience after 1 s behind."""
    return make_config(
        mode="test",
        sources={"test": {"rate_per_symbol": 1500.0}},
        stream={"max_pending": 200, "max_lag_seconds": 1, "max_send_seconds": max_send_seconds},
    )


def read_to_the_end(ws: websocket.WebSocket, pause: float = 0.0) -> tuple[int, tuple[int, str] | None]:
    """Messages read, and the close frame's (code, reason) or None if the connection was cut."""
    received = 0
    try:
        while True:
            opcode, payload = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return received, (int.from_bytes(payload[:2], "big"), payload[2:].decode())
            received += 1
            time.sleep(pause)
    except websocket.WebSocketConnectionClosedException:
        return received, None


def test_a_client_that_falls_behind_gets_coalesced_prices_then_a_close_reason(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(fast_market(make_config, max_send_seconds=10))
    slow = connect(service)
    received, closed = read_to_the_end(slow, pause=0.002)  # reads, far slower than the market moves
    assert closed == (1008, "client too slow: behind for over 1s")
    assert received > 10
    assert service.get("/health")[1]["pipeline"]["drops"]["ingest"] == 0


def test_a_client_that_stops_reading_is_dropped_and_never_slows_the_pipeline(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(fast_market(make_config, max_send_seconds=1))
    stalled = connect(service)
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(5)  # never reads: the server's sends block, then it gives up on this client
    health = service.get("/health")[1]
    assert health["pipeline"]["drops"]["ingest"] == 0
    assert health["pipeline"]["ticks"] > 50_000
    stalled.settimeout(10)
    _, closed = read_to_the_end(stalled)
    assert closed in (None, (1008, "client too slow: behind for over 1s"))
    fresh = connect(service, "?symbols=BTCUSDT")  # the service goes on serving others
    assert receive(fresh)["type"] == "subscribed"
    fresh.close()  # else the service's stop waits out its close timeout for this client's answer


def test_clients_are_told_when_the_service_shuts_down(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(make_config(mode="test", http={"graceful_timeout": 20}))
    ws = connect(service, "?symbols=BTCUSDT")
    receive(ws)
    wait_for(lambda: receive(ws)["type"] == "tick", message="a tick")
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    while True:
        opcode, payload = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert int.from_bytes(payload[:2], "big") == 1001
    assert payload[2:].decode() == "server shutting down"
    assert service.process.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
