"""Service state read at scrape time: nothing is counted twice or on the hot path."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.application.aggregator import MinuteAggregator
from app.application.pipeline import Pipeline
from app.application.ports import SourceStatus
from app.application.price_stream import PriceStream
from app.application.trade_gaps import TradeGaps


class ServiceCollector(Collector):
    def __init__(self, pipeline: Pipeline, aggregator: MinuteAggregator, stream: PriceStream, gaps: TradeGaps) -> None:
        self._pipeline = pipeline
        self._gaps = gaps
        self._aggregator = aggregator
        self._stream = stream

    def collect(self) -> Iterator[Metric]:
        statuses = list(self._pipeline.statuses.values())
        messages = CounterMetricFamily("marketflow_source_messages", "Raw messages read", labels=["source"])
        ticks = CounterMetricFamily("marketflow_source_ticks", "Valid ticks decoded", labels=["source"])
        errors = CounterMetricFamily(
            "marketflow_decode_errors", "Messages or trades skipped, by reason", labels=["source", "reason"]
        )
        reconnects = CounterMetricFamily(
            "marketflow_source_reconnects", "Connections ended and retried", labels=["source"]
        )
        duplicates = CounterMetricFamily(
            "marketflow_duplicate_trades", "Trades dropped as already seen (by trade id)", labels=["source"]
        )
        connected = GaugeMetricFamily(
            "marketflow_source_connected", "1 while the source is connected", labels=["source"]
        )
        for status in statuses:
            messages.add_metric([status.name], status.messages)
            ticks.add_metric([status.name], status.ticks)
            reconnects.add_metric([status.name], status.reconnects)
            duplicates.add_metric([status.name], status.duplicates)
            connected.add_metric([status.name], 1 if status.state == "connected" else 0)
            for reason, count in status.decode_errors.items():
                errors.add_metric([status.name, reason], count)
        yield from (messages, ticks, errors, reconnects, duplicates, connected)
        yield from self._live_feeds([s for s in statuses if s.clock_skew is not None])

        depths = GaugeMetricFamily("marketflow_queue_depth", "Items waiting in each pipeline queue", labels=["queue"])
        for queue, depth in self._pipeline.queue_depths().items():
            depths.add_metric([queue], depth)
        yield depths
        stats = self._pipeline.stats
        drops = CounterMetricFamily("marketflow_dropped", "Ticks or reads given up on, by where", labels=["where"])
        drops.add_metric(["ingest_queue"], stats.ingest_dropped)
        drops.add_metric(["cache_write"], stats.cache_failed)
        drops.add_metric(["spool_full"], self._aggregator.batches_dropped)
        yield drops
        yield CounterMetricFamily("marketflow_ticks", "Ticks through the pipeline", value=stats.ticks)
        latency = GaugeMetricFamily(
            "marketflow_tick_to_cache_seconds", "Read to queryable in the cache, recent", labels=["quantile"]
        )
        for quantile, value in stats.latency_summary().items():
            if value is not None:
                latency.add_metric([{"p50_ms": "0.5", "p99_ms": "0.99"}[quantile]], value / 1000)
        yield latency
        yield GaugeMetricFamily(
            "marketflow_spool_batches", "Sealed batches not yet stored", self._aggregator.unsent_batches
        )
        yield CounterMetricFamily(
            "marketflow_minute_rows_written", "Minute rows merged", value=self._aggregator.rows_written
        )
        yield CounterMetricFamily(
            "marketflow_ticks_replayed",
            "Ticks a crashed process had cached but not sealed, counted at startup",
            value=self._aggregator.ticks_replayed,
        )
        yield GaugeMetricFamily(
            "marketflow_cache_consistent",
            "1 when the cache holds the whole window",
            value=int(self._pipeline.cache_consistent),
        )
        yield CounterMetricFamily(
            "marketflow_batches_set_aside",
            "Minute batches the store refused for their values, kept in the dead-letter file",
            value=self._aggregator.batches_set_aside,
        )
        yield CounterMetricFamily(
            "marketflow_cache_lost", "Times the cache was found to have lost its data", value=stats.cache_lost
        )
        yield GaugeMetricFamily("marketflow_websocket_clients", "Clients on /ws/prices", value=self._stream.clients)

    def _live_feeds(self, statuses: list[SourceStatus]) -> Iterator[Metric]:
        """Gaps, recovery, silent symbols and clock skew of the live exchanges."""
        gaps = CounterMetricFamily("marketflow_trade_gaps", "Spans of trades lost for good", labels=["source"])
        recovered = CounterMetricFamily(
            "marketflow_recovered_trades", "Missed trades recovered over REST", labels=["source"]
        )
        silent = GaugeMetricFamily(
            "marketflow_silent_symbols", "Symbols silent on a live connection while others trade", labels=["source"]
        )
        resubscribes = CounterMetricFamily(
            "marketflow_resubscribes", "Resubscribes of silent symbols", labels=["source"]
        )
        skew = GaugeMetricFamily(
            "marketflow_clock_skew_seconds", "Receive time minus exchange time", labels=["source", "quantile"]
        )
        skew_last = GaugeMetricFamily(
            "marketflow_clock_skew_last_seconds", "The last receive time minus exchange time", labels=["source"]
        )
        skewed = GaugeMetricFamily(
            "marketflow_clock_skew_flagged", "1 when the median skew is past the bound", labels=["source"]
        )
        for status in statuses:
            name = status.name
            gaps.add_metric([name], self._gaps.counts.get(name, 0))
            recovered.add_metric([name], status.recovered)
            silent.add_metric([name], len(status.silent_symbols))
            resubscribes.add_metric([name], status.resubscribes)
            summary = status.clock_skew.summary() if status.clock_skew is not None else {}
            for quantile, key in (("0.5", "p50_ms"), ("0.99", "p99_ms")):
                if summary.get(key) is not None:
                    skew.add_metric([name, quantile], summary[key] / 1000)
            if summary.get("last_ms") is not None:
                skew_last.add_metric([name], summary["last_ms"] / 1000)
            skewed.add_metric([name], int(bool(summary.get("flagged"))))
        yield from (gaps, recovered, silent, resubscribes, skew, skew_last, skewed)
