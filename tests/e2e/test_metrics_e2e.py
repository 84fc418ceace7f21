"""``/metrics`` in the Prometheus text format, with numbers that match what was done."""

import time
from collections.abc import Callable

import websocket

from app.adapters.feeds.wire_line import encode_line
from tests.support.metrics import exposition, promtool_findings, scrape
from tests.support.net import LineExchange, wait_for
from tests.support.service import Service


def test_metrics_count_what_happened(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service], exchanges: list[LineExchange]
) -> None:
    service = start_service(make_config())
    exchanges[0].wait_connected()
    now = int(time.time() * 1000)
    exchanges[0].send(*(encode_line("BTCUSDT", 100.0 + i, now - 10 + i) for i in range(5)), b"{oops", b"[1]")

    process = service.get("/health")[1]["process"]

    def metric(name: str, **labels: str) -> float:
        """Every series is labelled with the process (``host:pid``) it describes."""
        return scrape(service).get((name, frozenset({**labels, "process": process}.items())), -1.0)

    wait_for(lambda: metric("marketflow_write_batch_size_sum", backend="redis") == 5, message="5 ticks in Redis")
    for _ in range(3):
        assert service.get("/prices/latest/exchange1/BTCUSDT")[0] == 200
    assert service.get("/prices/latest/exchange1/NOPE")[0] == 404
    ws = websocket.create_connection(f"ws://127.0.0.1:{service.port}/ws/prices", timeout=5)
    ws.recv()
    assert metric("marketflow_source_ticks_total", source="exchange1") == 5
    assert metric("marketflow_source_messages_total", source="exchange1") == 7
    assert metric("marketflow_decode_errors_total", source="exchange1", reason="invalid_json") == 1
    assert metric("marketflow_decode_errors_total", source="exchange1", reason="not_an_object") == 1
    assert metric("marketflow_source_connected", source="exchange1") == 1
    assert metric("marketflow_source_reconnects_total", source="exchange1") == 0
    assert metric("marketflow_ticks_total") == 5
    assert metric("marketflow_dropped_total", where="ingest_queue") == 0
    assert metric("marketflow_queue_depth", queue="ingest") == 0
    assert metric("marketflow_websocket_clients") == 1
    route = "/prices/latest/<exchange>/<symbol>"
    assert metric("marketflow_http_requests_total", route=route, method="GET", status="200") == 3
    assert metric("marketflow_http_requests_total", route=route, method="GET", status="404") == 1
    assert metric("marketflow_http_request_seconds_count", route=route, method="GET") == 4
    assert metric("marketflow_write_seconds_count", backend="redis", outcome="ok") >= 1
    assert metric("marketflow_tick_to_cache_seconds", quantile="0.99") > 0
    assert promtool_findings(exposition(service)) == ""  # every family as Prometheus' own linter wants it
    ws.close()
    wait_for(lambda: metric("marketflow_websocket_clients") == 0, message="client gone")
