"""Service state read at scrape time, for every process of this host: nothing is counted on the hot path.

A host is one scrape target, whichever of its workers answers: each shows
every process of the host (``process`` label, ``host:pid``), itself as of
now and the others as of their last heartbeat, as /health does. Other
hosts are their own targets, so no series is scraped twice. A feed's series
move to its new owner's ``process`` when it is taken over. The counters and
histograms a process keeps itself (its writes) come from its
report too (``ProcessReport.metrics``), so they show alike whichever worker
answers.
"""

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from app.application.process_report import (
    COUNTER,
    HISTOGRAM,
    CountedSeries,
    MetricFamilyReport,
    Percentiles,
    ProcessReport,
)
from app.domain.feed_snapshot import CONNECTED
from app.domain.pair_state import SILENT
from app.domain.time_grid import MS_PER_SECOND


class RecentQuantiles(Metric):
    """A summary of recent samples: its ``quantile`` series only (p50 and p99, in seconds).

    The percentiles are taken over a sliding window of samples, not kept as a running total, so there is no
    ``_sum`` or ``_count`` to give; a quantile label belongs to a summary (a gauge carrying one is what
    ``promtool check metrics`` refuses).
    """

    def __init__(self, name: str, documentation: str, labels: list[str]) -> None:
        super().__init__(name, documentation, "summary")
        self._labels = labels

    def add_percentiles(self, values: list[str], percentiles: Percentiles) -> None:
        """The percentiles reported (none before any sample), under these label values."""
        for quantile, ms in (("0.5", percentiles.p50_ms), ("0.99", percentiles.p99_ms)):
            if ms is not None:
                self.add_sample(
                    self.name,
                    {**dict(zip(self._labels, values, strict=True)), "quantile": quantile},
                    ms / MS_PER_SECOND,
                )


class ReportedProcesses(Protocol):
    """Every process's report at scrape time (``HealthService.processes``): this one as of now, the others as of
    their last heartbeat."""

    def __call__(self) -> Sequence[ProcessReport]: ...


class ServiceCollector(Collector):
    """``processes``: every process's report; ``host``: this host's name, whose processes it exports."""

    def __init__(self, processes: ReportedProcesses, host: str) -> None:
        self._processes = processes
        self._host = host

    def collect(self) -> Iterator[Metric]:
        processes = [p for p in self._processes() if p.host == self._host]
        yield from self._feeds(processes)
        yield from self._live_feeds(processes)
        yield from self._pipelines(processes)
        yield from self._minutes(processes)
        yield from self._history(processes)
        yield from self._counted(processes)

    def _feeds(self, processes: list[ProcessReport]) -> Iterator[Metric]:
        labels = ["process", "source"]
        messages = CounterMetricFamily("marketflow_source_messages", "Raw messages read", labels=labels)
        ticks = CounterMetricFamily("marketflow_source_ticks", "Valid ticks decoded", labels=labels)
        errors = CounterMetricFamily(
            "marketflow_decode_errors", "Messages or trades skipped, by reason", labels=[*labels, "reason"]
        )
        reconnects = CounterMetricFamily("marketflow_source_reconnects", "Connections ended and retried", labels=labels)
        duplicates = CounterMetricFamily(
            "marketflow_duplicate_trades", "Trades dropped as already seen (by trade id)", labels=labels
        )
        connected = GaugeMetricFamily("marketflow_source_connected", "1 while the source is connected", labels=labels)
        for process in processes:
            for source in process.sources:
                key = [process.id, source.name]
                messages.add_metric(key, source.messages)
                ticks.add_metric(key, source.ticks)
                reconnects.add_metric(key, source.reconnects)
                duplicates.add_metric(key, source.duplicates)
                connected.add_metric(key, 1 if source.state == CONNECTED else 0)
                for reason, count in source.decode_errors.items():
                    errors.add_metric([*key, reason], count)
        yield from (messages, ticks, errors, reconnects, duplicates, connected)

    def _live_feeds(self, processes: list[ProcessReport]) -> Iterator[Metric]:
        """Gaps, recovery, silent symbols and clock skew of the live exchanges."""
        labels = ["process", "source"]
        gaps = CounterMetricFamily("marketflow_trade_gaps", "Spans of trades lost for good", labels=labels)
        recovered = CounterMetricFamily(
            "marketflow_recovered_trades", "Missed trades recovered over REST", labels=labels
        )
        silent = GaugeMetricFamily(
            "marketflow_silent_symbols", "Symbols silent on a live connection while others trade", labels=labels
        )
        resubscribes = CounterMetricFamily("marketflow_resubscribes", "Resubscribes of silent symbols", labels=labels)
        skew = RecentQuantiles("marketflow_clock_skew_seconds", "Receive time minus exchange time, recent", labels)
        skew_last = GaugeMetricFamily(
            "marketflow_clock_skew_last_seconds", "The last receive time minus exchange time", labels=labels
        )
        skewed = GaugeMetricFamily(
            "marketflow_clock_skew_flagged", "1 when the median skew is past the bound", labels=labels
        )
        for process in processes:
            for source in process.sources:
                live = source.live
                if live is None:
                    continue  # not a live exchange
                key = [process.id, source.name]
                gaps.add_metric(key, live.gaps_count)
                recovered.add_metric(key, live.recovered)
                silent.add_metric(key, source.symbols.get(SILENT, 0))
                resubscribes.add_metric(key, live.resubscribes)
                skew_report = live.clock_skew
                skew.add_percentiles(key, Percentiles(skew_report.p50_ms, skew_report.p99_ms))
                if skew_report.last_ms is not None:
                    skew_last.add_metric(key, skew_report.last_ms / MS_PER_SECOND)
                skewed.add_metric(key, int(skew_report.flagged))
        yield from (gaps, recovered, silent, resubscribes, skew, skew_last, skewed)

    def _pipelines(self, processes: list[ProcessReport]) -> Iterator[Metric]:
        depths = GaugeMetricFamily(
            "marketflow_queue_depth", "Items waiting in each pipeline queue", labels=["process", "queue"]
        )
        drops = CounterMetricFamily(
            "marketflow_dropped", "Ticks or reads given up on, by where", labels=["process", "where"]
        )
        ticks = CounterMetricFamily("marketflow_ticks", "Ticks through the pipeline", labels=["process"])
        latency = RecentQuantiles(
            "marketflow_tick_to_cache_seconds", "Read to queryable in the cache, recent", ["process"]
        )
        consistent = GaugeMetricFamily(
            "marketflow_cache_consistent", "1 when the cache holds the whole window", labels=["process"]
        )
        lost = CounterMetricFamily(
            "marketflow_cache_lost", "Times the cache was found to have lost its data", labels=["process"]
        )
        clients = GaugeMetricFamily("marketflow_websocket_clients", "Clients on /ws/prices", labels=["process"])
        for process in processes:
            key = [process.id]
            pipeline = process.pipeline
            for queue, depth in pipeline.queues.items():
                depths.add_metric([*key, queue], depth)
            drops.add_metric([*key, "ingest_queue"], pipeline.drops.ingest)
            drops.add_metric([*key, "cache_write"], pipeline.drops.cache_write_failed)
            drops.add_metric([*key, "spool_full"], process.aggregator.batches_dropped)
            ticks.add_metric(key, pipeline.ticks)
            latency.add_percentiles(key, pipeline.tick_to_cache_latency)
            consistent.add_metric(key, int(pipeline.cache_consistent))
            lost.add_metric(key, pipeline.cache_lost)
            clients.add_metric(key, process.websocket_clients)
        yield from (depths, drops, ticks, latency, consistent, lost, clients)

    def _minutes(self, processes: list[ProcessReport]) -> Iterator[Metric]:
        spooled = GaugeMetricFamily("marketflow_spool_batches", "Sealed batches not yet stored", labels=["process"])
        written = CounterMetricFamily("marketflow_minute_rows_written", "Minute rows merged", labels=["process"])
        fenced = CounterMetricFamily(
            "marketflow_minute_rows_fenced",
            "Minute rows refused because another process holds a newer lease on their feed",
            labels=["process"],
        )
        replayed = CounterMetricFamily(
            "marketflow_ticks_replayed",
            "Ticks another (dead or stale) owner had cached but not stored, counted at a takeover or startup",
            labels=["process"],
        )
        set_aside = CounterMetricFamily(
            "marketflow_batches_set_aside",
            "Minute batches the store refused for their values, kept in the dead-letter file",
            labels=["process"],
        )
        for process in processes:
            key = [process.id]
            minutes = process.aggregator
            spooled.add_metric(key, minutes.unsent_batches)
            written.add_metric(key, minutes.rows_written)
            fenced.add_metric(key, minutes.rows_fenced)
            replayed.add_metric(key, minutes.ticks_replayed)
            set_aside.add_metric(key, minutes.batches_set_aside)
        yield from (spooled, written, fenced, replayed, set_aside)

    def _history(self, processes: list[ProcessReport]) -> Iterator[Metric]:
        """Each process's upkeep rounds: a round is done by whichever process gets there first, so sum by tier."""
        labels = ["process", "tier"]
        dropped = CounterMetricFamily(
            "marketflow_history_partitions_dropped", "History partitions dropped past retention", labels=labels
        )
        created = CounterMetricFamily(
            "marketflow_history_partitions_created", "History partitions created ahead", labels=["process"]
        )
        late = CounterMetricFamily(
            "marketflow_history_rows_past_retention",
            "Minute rows left out of a write, older than their retention",
            labels=["process"],
        )
        oldest = GaugeMetricFamily(
            "marketflow_history_oldest_partition_timestamp_seconds",
            "Start of the oldest partition kept, per tier",
            labels=labels,
        )
        for process in processes:
            upkeep = process.upkeep
            for tier, count in sorted(upkeep.partitions_dropped.items()):
                dropped.add_metric([process.id, tier], count)
            created.add_metric([process.id], upkeep.partitions_created)
            late.add_metric([process.id], upkeep.rows_past_retention)
            for tier, ms in sorted(upkeep.oldest_ms.items()):
                if ms is not None:
                    oldest.add_metric([process.id, tier], ms / MS_PER_SECOND)
        yield from (dropped, created, late, oldest)

    def _counted(self, processes: list[ProcessReport]) -> Iterator[Metric]:
        """The counters and histograms each process keeps itself, a family under the name, help, kind, labels and
        bounds the first process reporting it gives; a series another version reports in another shape is left
        out rather than breaking the scrape."""
        families: dict[str, tuple[MetricFamilyReport, CounterMetricFamily | HistogramMetricFamily]] = {}
        for process in processes:
            for family in process.metrics:
                # A family with no series yet (no request served, nothing written) can't tell its labels: it
                # must not set the shape every other process's series are checked against.
                if family.kind not in (COUNTER, HISTOGRAM) or not family.series:
                    continue
                if family.name not in families:
                    families[family.name] = (family, _counted_family(family))
                first, metric = families[family.name]
                if (family.kind, family.labels) != (first.kind, first.labels):
                    continue
                les = [*map(floatToGoString, family.bounds), "+Inf"]
                for series in family.series:
                    if _well_formed(family, series):
                        values = [process.id, *series.labels]
                        if isinstance(metric, CounterMetricFamily):
                            metric.add_metric(values, series.counts[0])
                        else:
                            metric.add_metric(values, list(zip(les, series.counts, strict=True)), series.sum)
        yield from (metric for _, metric in families.values())


def _counted_family(family: MetricFamilyReport) -> CounterMetricFamily | HistogramMetricFamily:
    labels = ["process", *family.labels]
    if family.kind == COUNTER:
        return CounterMetricFamily(family.name, family.documentation, labels=labels)
    return HistogramMetricFamily(family.name, family.documentation, labels=labels)


def _well_formed(family: MetricFamilyReport, series: CountedSeries) -> bool:
    """A value for each label, and a counter's one count or a histogram's count per bound and +Inf."""
    expected = 1 if family.kind == COUNTER else len(family.bounds) + 1
    return len(series.labels) == len(family.labels) and len(series.counts) == expected
