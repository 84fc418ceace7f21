"""This process's report (``ProcessReport``), built from one snapshot of each of its parts.

The heartbeat sends it, /health shows it, /metrics exports it and
/proxy/status reads its routes: all of them read this one report, taken at
one moment, never the components themselves. The counters and histograms the
process keeps itself go in it too, so every worker's scrape can show them.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Protocol

from app.application.aggregator import MinuteAggregator
from app.application.pipeline import Pipeline
from app.application.ports.feeds import HeldFeeds
from app.application.process_report import (
    ListingReport,
    LiveSourceReport,
    MetricFamilyReport,
    ProcessReport,
    ProxyRuntime,
    SourceReport,
    UpkeepReport,
    process_name,
)
from app.application.trade_gaps import TradeGaps, gap_report
from app.domain.feed_snapshot import SourceSnapshot

# The newest gaps of a feed shown in /health and the heartbeat (``gaps_count`` counts every one): a feed of
# thousands of pairs must not make either large.
GAPS_SHOWN = 10


class StreamClients(Protocol):
    """How many /ws/prices clients this process serves."""

    @property
    def clients(self) -> int: ...


class UpkeepReports(Protocol):
    """What this process did to keep stored history (``HistoryUpkeep``)."""

    def report(self) -> UpkeepReport: ...


class RouteReports(Protocol):
    """What this process's proxy router knows of the feeds it reads."""

    def runtime(self, held: Sequence[str]) -> ProxyRuntime: ...


class CountedFamilies(Protocol):
    """The counters and histograms this process keeps itself (its writes), as they stand."""

    def families(self) -> tuple[MetricFamilyReport, ...]: ...


class ProcessReporter:
    def __init__(
        self,
        pipeline: Pipeline,
        aggregator: MinuteAggregator,
        feeds: HeldFeeds,
        gaps: TradeGaps,
        stream: StreamClients,
        proxy: RouteReports,
        upkeep: UpkeepReports,
        metrics: CountedFamilies,
        host: str,
        pid: int,
        run: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pipeline = pipeline
        self._aggregator = aggregator
        self._feeds = feeds
        self._gaps = gaps
        self._stream = stream
        self._proxy = proxy
        self._upkeep = upkeep
        self._metrics = metrics
        self._host, self._pid, self._run = host, pid, run
        self._clock = clock
        self._id = process_name(host, pid)

    def report(self) -> ProcessReport:
        now = self._clock()
        held = self._feeds.held()
        snapshots = self._pipeline.sources()
        return ProcessReport(
            id=self._id,
            run=self._run,
            host=self._host,
            pid=self._pid,
            feeds=tuple(held),
            sources=tuple(
                self.source(snapshots[name], now) if name in snapshots else SourceReport(name=name) for name in held
            ),
            pipeline=self._pipeline.report(),
            aggregator=self._aggregator.snapshot(),
            websocket_clients=self._stream.clients,
            proxy=self._proxy.runtime(held),
            upkeep=self._upkeep.report(),
            metrics=self._metrics.families(),
        )

    def source(self, source: SourceSnapshot, now: float) -> SourceReport:
        live = None
        if source.clock_skew is not None:  # a live exchange
            live = LiveSourceReport(
                gaps_count=self._gaps.counts.get(source.name, 0),
                gaps=tuple(gap_report(gap) for gap in self._gaps.of(source.name)[-GAPS_SHOWN:]),
                recovered=source.recovered,
                resubscribes=source.resubscribes,
                clock_skew=source.clock_skew,
            )
        return SourceReport(
            name=source.name,
            state=source.state,
            connected_since=source.connected_since,
            last_message_age_s=None if source.last_message_at is None else round(now - source.last_message_at, 3),
            messages=source.messages,
            ticks=source.ticks,
            reconnects=source.reconnects,
            decode_errors=dict(source.decode_errors),
            duplicates=source.duplicates,
            last_error=source.last_error,
            last_exchange_error=source.last_exchange_error,
            symbols=dict(source.pairs),
            connections_open=source.connections_open,
            connections=source.connections,
            listing=None if source.listing is None else ListingReport(**asdict(source.listing)),
            live=live,
        )
