import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gevent
from prometheus_client import CollectorRegistry

from app.adapters.metrics.collector import ServiceCollector
from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.application.health import HealthService
from app.application.modes import ModeService
from app.application.pipeline import Pipeline
from app.application.ports.feeds import Emit
from app.application.ports.storage import StorageUnavailable
from app.application.process_report import MetricFamilyReport, ProxyRuntime, UpkeepReport
from app.application.process_reporter import ProcessReporter
from app.application.source_status import SourceStatus
from app.application.trade_gaps import TradeGaps
from app.domain.clock_skew import ClockSkew
from app.domain.secrets import SecretScrubber
from tests.support.fakes import AllFeeds, MemoryLeases, MemoryStore, ScriptedSource
from tests.unit.test_pipeline import build


class SlowProbe:
    """A store whose ping takes a second, during which the feed delivers a message."""

    def __init__(self, clock: list[float], status: SourceStatus) -> None:
        self._clock, self._status = clock, status

    def ping(self) -> float:
        self._clock[0] += 1.0
        self._status.received(1, self._clock[0])
        return 1.0


class WatchedSource(ScriptedSource):
    """A source that keeps the status the pipeline gives it, so the test can report a read through it."""

    status: SourceStatus

    def run(self, emit: Emit, status: SourceStatus) -> None:
        self.status = status
        super().run(emit, status)


class Quiet:
    """No stream clients, no proxy routes, no history upkeep, nothing counted."""

    clients = 0

    def runtime(self, held: list[str]) -> ProxyRuntime:
        return ProxyRuntime()

    def report(self) -> UpkeepReport:
        return UpkeepReport()

    def families(self) -> tuple[MetricFamilyReport, ...]:
        return ()


def watched_process(
    clock: Callable[[], float] = time.time,
) -> tuple[Pipeline, WatchedSource, ModeService, ProcessReporter]:
    """A running pipeline reading one watched source, and the reporter of its process (as one worker has)."""
    pipeline, *_ = build()
    source = WatchedSource("ex1", [])
    pipeline.start()
    pipeline.attach(source)
    gevent.sleep(0.01)
    feeds = AllFeeds(pipeline)
    modes = ModeService(feeds, {"test": [ScriptedSource("ex1", [])]}, "test")
    aggregator = MinuteAggregator(MemoryStore(), FileSpool(Path(tempfile.mkdtemp()) / "s.jsonl", 1 << 20, "r"), 1000)
    reporter = ProcessReporter(
        pipeline, aggregator, feeds, TradeGaps(), Quiet(), Quiet(), Quiet(), Quiet(), "host", 1, "r", clock
    )
    return pipeline, source, modes, reporter


def alone(leases: MemoryLeases) -> MemoryLeases:
    """This process's own view, as when Redis is down."""
    leases.down = True
    return leases


def test_last_message_age_is_measured_after_the_probes() -> None:
    clock = [1000.0]
    pipeline, source, modes, reporter = watched_process(lambda: clock[0])
    probe = SlowProbe(clock, source.status)
    health = HealthService(reporter, alone(MemoryLeases()).of("p"), modes, {"redis": probe, "postgres": probe})
    report = health.report()
    pipeline.stop()
    assert report["sources"][0]["last_message_age_s"] == 0.0
    assert report["postgres"] == {"status": "up", "latency_ms": 1000.0}


class Unreachable:
    """A store whose driver quotes a fragment of the password it was given (libpq, an unencoded ``@``)."""

    def ping(self) -> float:
        raise StorageUnavailable('could not translate host name "ss-w0rd.t3G@127.0.0.1" to address')


def test_a_store_error_shows_no_fragment_of_a_configured_secret() -> None:
    pipeline, *_ = build()
    modes = ModeService(AllFeeds(pipeline), {"test": []}, "test")
    aggregator = MinuteAggregator(MemoryStore(), FileSpool(Path(tempfile.mkdtemp()) / "s.jsonl", 1 << 20, "r"), 1000)
    reporter = ProcessReporter(
        pipeline, aggregator, AllFeeds(pipeline), TradeGaps(), Quiet(), Quiet(), Quiet(), Quiet(), "h", 1, "r"
    )
    scrub = SecretScrubber(["pa@ss-w0rd.t3G"])
    health = HealthService(reporter, MemoryLeases().of("p"), modes, {"postgres": Unreachable()}, scrub)
    assert health.report()["postgres"] == {"status": "down", "error": 'could not translate host name "***" to address'}


def test_a_live_feeds_clock_skew_reaches_health_and_metrics_field_for_field() -> None:
    """Measured skews to /health's JSON and the exported series, every figure named: a field renamed on the way
    fails here instead of reporting nothing."""
    pipeline, source, modes, reporter = watched_process()
    health = HealthService(reporter, alone(MemoryLeases()).of("p"), modes, {})
    skew = ClockSkew(250)
    source.status.measures_skew(skew)
    shown = health.report()["sources"][0]["clock_skew"]
    for received in (1300, 1100, 1200, 9000):  # skews 300, 100, 200, 8000: the median past the bound
        skew.add(received, 1000)
    report = health.report()
    registry = CollectorRegistry()
    registry.register(ServiceCollector(health.processes, "host"))
    exported = {
        (sample.name, sample.labels.get("quantile")): sample.value
        for family in registry.collect()
        if "clock_skew" in family.name
        for sample in family.samples
    }
    pipeline.stop()
    # The JSON text itself, so a figure turned from a float into an int would show too.
    assert json.dumps(shown) == '{"p50_ms": null, "p99_ms": null, "last_ms": null, "flagged": false}'
    assert json.dumps(report["sources"][0]["clock_skew"]) == (
        '{"p50_ms": 300.0, "p99_ms": 8000.0, "last_ms": 8000.0, "flagged": true}'
    )
    assert exported == {
        ("marketflow_clock_skew_seconds", "0.5"): 0.3,
        ("marketflow_clock_skew_seconds", "0.99"): 8.0,
        ("marketflow_clock_skew_last_seconds", None): 8.0,
        ("marketflow_clock_skew_flagged", None): 1,
    }
