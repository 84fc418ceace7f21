"""Stored history in ``/metrics``: partitions made and dropped, rows left out past retention, the oldest kept.

The counters are the answering worker's own (like the write histograms): a
round is done by whichever process gets the lease, so sum them over a
host's processes. The oldest partition of each tier is the database's, as
the answering worker's last round saw it.
"""

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.application.history_upkeep import HistoryUpkeep
from app.domain.time_grid import MS_PER_SECOND


class LeftOut(Protocol):
    rows_past_retention: int


class HistoryCollector(Collector):
    def __init__(self, upkeep: HistoryUpkeep, store: LeftOut, process: str) -> None:
        self._upkeep = upkeep
        self._store = store
        self._process = process

    def collect(self) -> Iterator[Metric]:
        labels = ["process", "tier"]
        dropped = CounterMetricFamily(
            "marketflow_history_partitions_dropped", "History partitions dropped past retention", labels=labels
        )
        for tier, count in sorted(self._upkeep.partitions_dropped.items()):
            dropped.add_metric([self._process, tier], count)
        yield dropped
        created = CounterMetricFamily(
            "marketflow_history_partitions_created", "History partitions created ahead", labels=["process"]
        )
        created.add_metric([self._process], self._upkeep.partitions_created)
        yield created
        late = CounterMetricFamily(
            "marketflow_history_rows_past_retention",
            "Minute rows left out of a write, older than their retention",
            labels=["process"],
        )
        late.add_metric([self._process], self._store.rows_past_retention)
        yield late
        oldest = GaugeMetricFamily(
            "marketflow_history_oldest_partition_timestamp_seconds",
            "Start of the oldest partition kept, per tier",
            labels=labels,
        )
        for tier, ms in sorted(self._upkeep.oldest_ms.items()):
            if ms is not None:
                oldest.add_metric([self._process, tier], ms / MS_PER_SECOND)
        yield oldest
