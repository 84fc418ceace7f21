"""The counters and histograms a process keeps itself (its writes), read into its report.

They are counted where they happen, in a registry of their own that
/metrics never serves: a scrape reaches one worker of the host, which would
show only its own. The report carries them instead (``ProcessReport.metrics``),
so any worker's scrape shows them for every process of its host, as it shows
the rest (``ServiceCollector``).
"""

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from app.application.process_report import COUNTER, HISTOGRAM, CountedSeries, MetricFamilyReport


class LocalFamilies:
    """The counters and histograms of ``registry``, as they stand (any other kind in it is not reported)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def families(self) -> tuple[MetricFamilyReport, ...]:
        return tuple(_family(metric) for metric in self._registry.collect() if metric.type in (COUNTER, HISTOGRAM))


def _family(metric: Metric) -> MetricFamilyReport:
    """One family: a counter's ``_total`` or a histogram's ``_bucket`` samples grouped by their labels (``le``
    aside), a histogram's ``_sum`` beside them; ``_count`` is the +Inf bucket and ``_created`` is not reported."""
    counted = f"{metric.name}_total" if metric.type == COUNTER else f"{metric.name}_bucket"
    labels: tuple[str, ...] = ()
    bounds: list[float] = []
    counts: dict[tuple[str, ...], list[float]] = {}
    sums: dict[tuple[str, ...], float] = {}
    for sample in metric.samples:
        labels = tuple(name for name in sample.labels if name != "le")
        values = tuple(sample.labels[name] for name in labels)
        if sample.name == counted:
            series = counts.setdefault(values, [])
            # A whole count as an int: the heartbeat, written every lease poll, carries no ".0" per bucket.
            series.append(int(sample.value) if sample.value.is_integer() else sample.value)
            le = sample.labels.get("le", "+Inf")
            if le != "+Inf" and len(series) > len(bounds):  # every series of a histogram has the same bounds
                bounds.append(float(le))
        elif sample.name == f"{metric.name}_sum":
            sums[values] = sample.value
    return MetricFamilyReport(
        name=metric.name,
        documentation=metric.documentation,
        kind=metric.type,
        labels=labels,
        bounds=tuple(bounds),
        series=tuple(
            CountedSeries(labels=values, counts=tuple(series), sum=sums.get(values, 0.0))
            for values, series in counts.items()
        ),
    )
