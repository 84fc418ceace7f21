"""The counters and histograms a process keeps itself, and what its report carries of them, figure for figure."""

import json

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry

from app.adapters.http.metrics import HTTP_BUCKETS, instrument_requests
from app.adapters.metrics.instrumented import SIZE_BUCKETS, MeasuredCache, MeasuredStore, WriteMetrics
from app.adapters.metrics.local_families import LocalFamilies
from app.application.ports.storage import StorageUnavailable
from app.application.process_report import CountedSeries, MetricFamilyReport
from app.domain.buckets import CacheBatch
from app.domain.minutes import MinuteBatch, MinuteRow
from app.domain.tick import Tick

TICKS = CacheBatch([Tick("ex1", "BTCUSDT", 1.0, 1), Tick("ex1", "BTCUSDT", 2.0, 2), Tick("ex2", "BTCUSDT", 3.0, 3)], [])
ROWS = MinuteBatch("b1", (MinuteRow("ex1", "BTCUSDT", 0, 1, 1.0, 1.0, 1.0),), 0)


class Inner:
    """A backend whose writes answer ``result``, or raise ``error`` once it is set."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.error: Exception | None = None

    def write(self, batch: object) -> object:
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.parametrize(
    ("measured", "backend", "batch", "items", "result"),
    [(MeasuredCache, "redis", TICKS, 3, True), (MeasuredStore, "postgres", ROWS, 1, ["ex2"])],
)
def test_every_write_is_sized_and_timed_by_outcome_and_passes_its_answer_or_error_on(
    measured: type, backend: str, batch: object, items: int, result: object
) -> None:
    registry = CollectorRegistry()
    inner = Inner(result)
    writer = measured(inner, WriteMetrics(registry))
    assert writer.write(batch) == result
    inner.error = StorageUnavailable("down")
    with pytest.raises(StorageUnavailable):
        writer.write(batch)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"backend": backend, **labels})

    assert (sample("marketflow_write_batch_size_count"), sample("marketflow_write_batch_size_sum")) == (2, 2 * items)
    assert sample("marketflow_write_seconds_count", outcome="ok") == 1
    assert sample("marketflow_write_seconds_count", outcome="failed") == 1
    assert 0 <= sample("marketflow_write_seconds_sum", outcome="ok") < 1


def test_the_report_carries_the_write_histograms_under_their_names_labels_and_bounds() -> None:
    """A family or label renamed, or bounds changed, fails here: dashboards read these names."""
    registry = CollectorRegistry()
    MeasuredCache(Inner(True), WriteMetrics(registry)).write(TICKS)
    size, seconds = LocalFamilies(registry).families()
    assert size == MetricFamilyReport(
        name="marketflow_write_batch_size",
        documentation="Items per write batch",
        kind="histogram",
        labels=("backend",),
        bounds=(1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0),
        series=(CountedSeries(labels=("redis",), counts=(0.0,) + (1.0,) * len(SIZE_BUCKETS), sum=3.0),),
    )
    # Whole counts go as ints: the heartbeat, written every lease poll, carries no ".0" per bucket.
    assert json.dumps(size.series[0].counts) == json.dumps([0] + [1] * len(SIZE_BUCKETS))
    assert (seconds.name, seconds.documentation, seconds.kind, seconds.labels) == (
        "marketflow_write_seconds",
        "Time per write batch, failed writes included",
        "histogram",
        ("backend", "outcome"),
    )
    (written,) = seconds.series
    assert (written.labels, written.counts[-1], len(written.counts)) == (("redis", "ok"), 1.0, len(seconds.bounds) + 1)


def test_http_requests_are_counted_per_worker_route_method_and_status_in_the_served_registry() -> None:
    """The answering worker's own (clients decide how many series there are): never carried in its report."""
    app = Flask("t")
    app.add_url_rule("/items/<name>", "item", lambda name: ("", 200 if name == "a" else 404))
    registry = CollectorRegistry()
    instrument_requests(app, registry, "host:7")
    client = app.test_client()
    for path in ("/items/a", "/items/a", "/items/b", "/nowhere"):
        client.get(path)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"process": "host:7", **labels})

    item = {"route": "/items/<name>", "method": "GET"}
    assert value("marketflow_http_requests_total", **item, status="200") == 2
    assert value("marketflow_http_requests_total", **item, status="404") == 1
    assert value("marketflow_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value("marketflow_http_request_seconds_count", **item) == 3
    assert value("marketflow_http_request_seconds_bucket", **item, le=str(HTTP_BUCKETS[-1])) == 3
