"""The one process report: every reader (the heartbeat, /health, /metrics) gets every field, or a test fails."""

import dataclasses
import json

from prometheus_client import CollectorRegistry

from app.adapters.metrics.collector import ServiceCollector
from app.application.process_report import (
    CountedSeries,
    Drops,
    GapReport,
    ListingReport,
    LiveSourceReport,
    MetricFamilyReport,
    Percentiles,
    PipelineReport,
    ProcessReport,
    ProxyRuntime,
    SourceReport,
    UpkeepReport,
)
from app.domain.clock_skew import SkewSummary
from app.domain.minutes import AggregatorSnapshot

LIVE = SourceReport(
    name="binance",
    state="connected",
    connected_since=1_700_000_000.5,
    last_message_age_s=0.25,
    messages=11,
    ticks=12,
    reconnects=13,
    decode_errors={"bad_price": 14},
    duplicates=15,
    last_error="closed",
    last_exchange_error="-1121 Invalid symbol.",
    symbols={"subscribing": 1, "live": 20, "silent": 2, "refused": 0, "delisted": 3},
    connections_open=1,
    connections=2,
    listing=ListingReport(symbols=26, fetched_at=1_700_000_010.5, error="OSError: timed out"),
    live=LiveSourceReport(
        gaps_count=16,
        gaps=(GapReport("BTCUSDT", "2026-11-21T10:15:30.123Z", "2026-11-21T10:15:31.000Z", 17),),
        recovered=18,
        resubscribes=19,
        clock_skew=SkewSummary(p50_ms=-20.0, p99_ms=21.0, last_ms=22.0, flagged=True),
    ),
)
TCP = SourceReport(name="exchange1", state="backing_off", messages=31, ticks=32, reconnects=33)
REPORT = ProcessReport(
    id="host:7",
    run="abcd",
    host="host",
    pid=7,
    feeds=("binance", "exchange1"),
    sources=(LIVE, TCP),
    pipeline=PipelineReport(
        running=True,
        queues={"ingest": 41, "results": 42, "cache": 43},
        received=44,
        ticks=45,
        cached=46,
        rejected=47,
        drops=Drops(ingest=48, cache_write_failed=49),
        cache_consistent=True,
        cache_restored=50,
        cache_lost=51,
        tick_to_cache_latency=Percentiles(p50_ms=52.0, p99_ms=53.0),
    ),
    aggregator=AggregatorSnapshot(54, 55, 56, 57, 58, 59, 60),
    websocket_clients=61,
    proxy=ProxyRuntime({"binance": "direct"}, {"http://p:3128": 62}, ("http://p:3128",)),
    upkeep=UpkeepReport(63, {"minutes": 64, "hours": 65}, 66, {"minutes": 67_000, "days": None}),
    metrics=(
        MetricFamilyReport(
            name="marketflow_http_requests",
            documentation="HTTP requests by route and status",
            kind="counter",
            labels=("route", "method", "status"),
            series=(
                CountedSeries(labels=("/health", "GET", "200"), counts=(68.0,)),
                CountedSeries(labels=("unmatched", "GET", "404"), counts=(69.0,)),
            ),
        ),
        MetricFamilyReport(
            name="marketflow_http_request_seconds",
            documentation="HTTP request latency",
            kind="histogram",
            labels=("route", "method"),
            bounds=(0.1, 1.0),
            series=(CountedSeries(labels=("/health", "GET"), counts=(70.0, 71.0, 72.0), sum=73.5),),
        ),
        MetricFamilyReport(
            name="marketflow_write_batch_size",
            documentation="Items per write batch",
            kind="histogram",
            labels=("backend",),
            bounds=(1.0, 10.0),
            series=(CountedSeries(labels=("redis",), counts=(74.0, 75.0, 76.0), sum=77.0),),
        ),
        MetricFamilyReport(
            name="marketflow_write_seconds",
            documentation="Time per write batch, failed writes included",
            kind="histogram",
            labels=("backend", "outcome"),
            bounds=(0.5,),
            series=(CountedSeries(labels=("postgres", "failed"), counts=(78.0, 79.0), sum=80.25),),
        ),
    ),
)


def test_a_report_survives_the_heartbeat_whole() -> None:
    # As JSON text, which has no infinity: a histogram's +Inf bucket is implied, never sent.
    assert ProcessReport.from_json(json.loads(json.dumps(REPORT.to_json(), allow_nan=False))) == REPORT


def test_the_health_view_of_a_feed_keeps_its_shape() -> None:
    view = REPORT.to_json()["sources"]
    assert list(view[1]) == [
        "name",
        "state",
        "connected_since",
        "last_message_age_s",
        "messages",
        "ticks",
        "reconnects",
        "decode_errors",
        "duplicates",
        "last_error",
        "last_exchange_error",
        "symbols",
        "connections_open",
        "connections",
        "listing",
    ]
    assert list(view[0])[15:] == ["gaps_count", "gaps", "recovered", "resubscribes", "clock_skew"]
    assert view[0]["listing"] == {"symbols": 26, "fetched_at": 1_700_000_010.5, "error": "OSError: timed out"}
    assert view[0]["gaps"] == [
        {"symbol": "BTCUSDT", "from": LIVE.live.gaps[0].from_, "to": LIVE.live.gaps[0].to, "lost": 17}
    ]


def test_a_heartbeat_of_another_version_reads_as_not_reported_where_it_differs() -> None:
    odd = {
        "id": "h:1",
        "pid": -3,  # not a count
        "feeds": ["ex1", 5],
        "sources": [{"name": "ex1", "messages": "many", "decode_errors": {"x": 2, "y": True}}, 7],
        "pipeline": [1],
        "aggregator": {"rows_written": 9, "unknown": 1},
        "proxy": {"routes": {"ex1": 5, "ex2": "direct"}, "failures": {"a": True, "b": -1, "c": 2}, "benched": "abc"},
    }
    report = ProcessReport.from_json(odd)
    assert (report.id, report.pid) == ("h:1", 0)
    assert report.feeds == ("ex1",)
    assert report.sources == (SourceReport(name="ex1", decode_errors={"x": 2}),)
    assert report.pipeline == PipelineReport()
    assert report.aggregator == AggregatorSnapshot(rows_written=9)
    assert report.proxy == ProxyRuntime(routes={"ex2": "direct"}, failures={"c": 2})


def samples(report: ProcessReport) -> dict[tuple[str, tuple[str, ...]], float]:
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: [report], report.host))
    return {
        (sample.name, tuple(v for k, v in sorted(sample.labels.items()) if k != "process")): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_every_count_of_the_report_is_exported_as_reported() -> None:
    exported = samples(ProcessReport.from_json(REPORT.to_json()))
    expected = {
        ("marketflow_source_messages_total", ("binance",)): 11,
        ("marketflow_source_ticks_total", ("binance",)): 12,
        ("marketflow_source_reconnects_total", ("binance",)): 13,
        ("marketflow_decode_errors_total", ("bad_price", "binance")): 14,
        ("marketflow_duplicate_trades_total", ("binance",)): 15,
        ("marketflow_source_connected", ("binance",)): 1,
        ("marketflow_source_connected", ("exchange1",)): 0,
        ("marketflow_source_messages_total", ("exchange1",)): 31,
        ("marketflow_trade_gaps_total", ("binance",)): 16,
        ("marketflow_recovered_trades_total", ("binance",)): 18,
        ("marketflow_silent_symbols", ("binance",)): 2,
        ("marketflow_resubscribes_total", ("binance",)): 19,
        ("marketflow_clock_skew_seconds", ("0.5", "binance")): -0.02,
        ("marketflow_clock_skew_seconds", ("0.99", "binance")): 0.021,
        ("marketflow_clock_skew_last_seconds", ("binance",)): 0.022,
        ("marketflow_clock_skew_flagged", ("binance",)): 1,
        ("marketflow_queue_depth", ("ingest",)): 41,
        ("marketflow_queue_depth", ("cache",)): 43,
        ("marketflow_ticks_total", ()): 45,
        ("marketflow_dropped_total", ("ingest_queue",)): 48,
        ("marketflow_dropped_total", ("cache_write",)): 49,
        ("marketflow_dropped_total", ("spool_full",)): 58,
        ("marketflow_cache_consistent", ()): 1,
        ("marketflow_cache_lost_total", ()): 51,
        ("marketflow_tick_to_cache_seconds", ("0.5",)): 0.052,
        ("marketflow_tick_to_cache_seconds", ("0.99",)): 0.053,
        ("marketflow_websocket_clients", ()): 61,
        ("marketflow_spool_batches", ()): 55,
        ("marketflow_minute_rows_written_total", ()): 56,
        ("marketflow_minute_rows_fenced_total", ()): 57,
        ("marketflow_batches_set_aside_total", ()): 59,
        ("marketflow_ticks_replayed_total", ()): 60,
        ("marketflow_history_partitions_created_total", ()): 63,
        ("marketflow_history_partitions_dropped_total", ("minutes",)): 64,
        ("marketflow_history_partitions_dropped_total", ("hours",)): 65,
        ("marketflow_history_rows_past_retention_total", ()): 66,
        ("marketflow_history_oldest_partition_timestamp_seconds", ("minutes",)): 67,
        # Label values by label name: le, method, route, status.
        ("marketflow_http_requests_total", ("GET", "/health", "200")): 68,
        ("marketflow_http_requests_total", ("GET", "unmatched", "404")): 69,
        ("marketflow_http_request_seconds_bucket", ("0.1", "GET", "/health")): 70,
        ("marketflow_http_request_seconds_bucket", ("1.0", "GET", "/health")): 71,
        ("marketflow_http_request_seconds_bucket", ("+Inf", "GET", "/health")): 72,
        ("marketflow_http_request_seconds_count", ("GET", "/health")): 72,
        ("marketflow_http_request_seconds_sum", ("GET", "/health")): 73.5,
        ("marketflow_write_batch_size_bucket", ("redis", "1.0")): 74,
        ("marketflow_write_batch_size_bucket", ("redis", "10.0")): 75,
        ("marketflow_write_batch_size_bucket", ("redis", "+Inf")): 76,
        ("marketflow_write_batch_size_count", ("redis",)): 76,
        ("marketflow_write_batch_size_sum", ("redis",)): 77,
        ("marketflow_write_seconds_bucket", ("postgres", "0.5", "failed")): 78,
        ("marketflow_write_seconds_bucket", ("postgres", "+Inf", "failed")): 79,
        ("marketflow_write_seconds_count", ("postgres", "failed")): 79,
        ("marketflow_write_seconds_sum", ("postgres", "failed")): 80.25,
    }
    assert {key: exported.get(key) for key in expected} == expected
    # A tier whose oldest partition no round has seen yet exports none.
    assert ("marketflow_history_oldest_partition_timestamp_seconds", ("days",)) not in exported
    # A source that is not a live exchange exports no live series.
    assert not any(labels == ("exchange1",) and "gaps" in name for name, labels in exported)


def test_another_hosts_processes_are_left_to_that_hosts_scrape() -> None:
    elsewhere = dataclasses.replace(REPORT, host="other")
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: [elsewhere], "host"))
    assert not [s for family in registry.collect() for s in family.samples]


def counted(report: ProcessReport, family: str, **figures: float) -> ProcessReport:
    """``report`` with ``family``'s one series counting ``figures`` (a histogram's: bucket counts then sum)."""
    (chosen,) = [f for f in report.metrics if f.name == family]
    series = dataclasses.replace(chosen.series[0], **figures)
    metrics = tuple(dataclasses.replace(f, series=(series,)) if f is chosen else f for f in report.metrics)
    return dataclasses.replace(report, metrics=metrics)


def test_every_process_of_the_host_has_its_own_requests_and_writes_in_any_scrape() -> None:
    """Another worker's counters reach this one's scrape through its heartbeat, each under its ``process``."""
    other = counted(
        counted(dataclasses.replace(REPORT, id="host:8", pid=8), "marketflow_http_requests", counts=(5.0,)),
        "marketflow_write_batch_size",
        counts=(1.0, 2.0, 3.0),
        sum=9.5,
    )
    heartbeat = ProcessReport.from_json(json.loads(json.dumps(other.to_json(), allow_nan=False)))
    assert heartbeat == other
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: [REPORT, heartbeat], "host"))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    health = {"route": "/health", "method": "GET"}
    assert value("marketflow_http_requests_total", process="host:7", **health, status="200") == 68
    assert value("marketflow_http_requests_total", process="host:8", **health, status="200") == 5
    assert value("marketflow_http_request_seconds_count", process="host:8", **health) == 72
    assert value("marketflow_write_batch_size_bucket", process="host:7", backend="redis", le="10.0") == 75
    assert value("marketflow_write_batch_size_bucket", process="host:8", backend="redis", le="10.0") == 2
    assert value("marketflow_write_batch_size_count", process="host:8", backend="redis") == 3
    assert value("marketflow_write_batch_size_sum", process="host:8", backend="redis") == 9.5
    assert value("marketflow_write_seconds_sum", process="host:8", backend="postgres", outcome="failed") == 80.25
    names = [f.name for f in REPORT.metrics]
    families = [family for family in registry.collect() if family.name in names]
    # One family each, with its help, both processes in it, and ``process`` the first label as it always was.
    assert [(family.name, family.documentation) for family in families] == [
        (f.name, f.documentation) for f in REPORT.metrics
    ]
    assert all({s.labels["process"] for s in family.samples} == {"host:7", "host:8"} for family in families)
    assert list(families[0].samples[0].labels) == ["process", "route", "method", "status"]


def test_a_counted_family_of_another_shape_is_left_out_not_the_scrape() -> None:
    """A heartbeat of another version: a kind this one doesn't know, another set of labels, a count short."""
    http = REPORT.metrics[0]
    odd = dataclasses.replace(
        REPORT,
        id="host:8",
        metrics=(
            dataclasses.replace(http, labels=("route",), series=(CountedSeries(("/x",), (1.0,)),)),
            dataclasses.replace(http, name="marketflow_other", kind="gauge"),
            dataclasses.replace(REPORT.metrics[2], series=(CountedSeries(("redis",), (1.0, 2.0)),)),
        ),
    )
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: [REPORT, odd], "host"))
    exported = [sample for family in registry.collect() for sample in family.samples]
    assert [sample for sample in exported if sample.labels.get("process") == "host:8" and "http" in sample.name] == []
    assert not [sample for sample in exported if "other" in sample.name]
    assert not [s for s in exported if s.name.startswith("marketflow_write") and s.labels["process"] == "host:8"]


def test_a_process_that_has_counted_nothing_yet_hides_no_other_process() -> None:
    """An idle worker's families carry no series, so no labels: listed first, it must not set the shape."""
    idle = dataclasses.replace(
        REPORT,
        id="host:1",
        pid=1,
        metrics=tuple(dataclasses.replace(f, labels=(), bounds=(), series=()) for f in REPORT.metrics),
    )
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: [idle, REPORT], "host"))
    health = {"route": "/health", "method": "GET", "status": "200"}
    assert registry.get_sample_value("marketflow_http_requests_total", {"process": "host:7", **health}) == 68
    assert (
        registry.get_sample_value(
            "marketflow_write_batch_size_bucket", {"process": "host:7", "backend": "redis", "le": "10.0"}
        )
        == 75
    )
