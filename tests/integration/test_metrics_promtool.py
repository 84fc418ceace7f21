"""``promtool check metrics`` (Debian's ``prometheus`` package, `make test-servers`) finds nothing to say about
/metrics: every family of a full report, the recent percentiles as summaries."""

from prometheus_client import CollectorRegistry, generate_latest

from app.adapters.metrics.collector import ServiceCollector
from tests.support.metrics import promtool_findings
from tests.unit.test_process_report import REPORT


def test_every_family_of_a_full_report_passes_promtool() -> None:
    registry = CollectorRegistry()
    registry.register(ServiceCollector(lambda: [REPORT], REPORT.host))
    text = generate_latest(registry).decode()
    assert promtool_findings(text) == ""
    for name in ("marketflow_tick_to_cache_seconds", "marketflow_clock_skew_seconds"):
        assert f"# TYPE {name} summary" in text
