"""``/metrics`` in the Prometheus text format, with numbers that match what was done."""

import time
from collections.abc import Callable

import websocket

from app.adapters.feeds.wire_line import encode_line
from tests.support.metrics import Samples, exposition, promtool_findings, scrape
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


def by_process(samples: Samples, name: str, **labels: str) -> dict[str, float]:
    """``name``'s series with these labels, by process."""
    return {
        dict(key)["process"]: value
        for (sample, key), value in samples.items()
        if sample == name and labels.items() <= dict(key).items()
    }


def test_any_workers_scrape_shows_every_workers_writes_and_its_own_requests(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service], exchanges: list[LineExchange]
) -> None:
    """Each worker's writes reach the other's scrape through its heartbeat: whichever worker a scrape reaches,
    every worker's write series are in it, exactly. The HTTP series are the answering worker's own (clients
    decide how many there are, so no heartbeat carries them)."""
    service = start_service(make_config(http={"workers": 2}))
    owners = service.owners
    wait_for(lambda: None not in owners().values() and len(set(owners().values())) == 2, message="both reading")
    workers = {process["id"] for process in service.get("/health")[1]["processes"]}
    ticks = {"exchange1": 1, "exchange2": 2, "exchange3": 4}  # each worker's sum tells which feeds it read
    now = int(time.time() * 1000)
    for i, exchange in enumerate(exchanges, start=1):
        exchange.send(*(encode_line("BTCUSDT", 100.0 + k, now - 10 + k) for k in range(ticks[f"exchange{i}"])))
    written = dict.fromkeys(workers, 0.0)
    for feed, owner in owners().items():
        written[owner] += ticks[feed]
    samples = wait_for(
        lambda: (
            (s := scrape(service))
            and by_process(s, "marketflow_write_batch_size_sum", backend="redis") == written
            and s
        ),
        message="every worker's cache writes in one scrape",
    )
    assert by_process(samples, "marketflow_write_seconds_count", backend="redis", outcome="ok").keys() == workers
    # Its HTTP series: one worker's, the answering one's (it has answered /health and this scrape's forerunners).
    answering = {dict(key)["process"] for name, key in samples if name.startswith("marketflow_http_request")}
    assert len(answering) == 1
    assert answering <= workers
    assert promtool_findings(exposition(service)) == ""
