from app.application.pipeline_stats import PipelineStats
from app.application.process_report import Percentiles


def test_latency_summary_in_milliseconds_none_before_any_sample() -> None:
    stats = PipelineStats()
    assert stats.latency_summary() == Percentiles(None, None)
    stats.cache_latency.append(0.0021234)
    assert stats.latency_summary() == Percentiles(2.123, 2.123)
    stats.cache_latency.extend([0.004, 0.001, 0.25])
    assert stats.latency_summary() == Percentiles(4.0, 250.0)
