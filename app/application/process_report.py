"""What one process says about itself: its feeds, its pipeline, its minutes, its stream clients, its routes,
the counters and histograms it keeps itself.

One typed report, read alike by /health, by the heartbeat every other
process reads, by /metrics and by /proxy/status, so a field renamed here
fails every reader that names it instead of silently exporting 0. As JSON
(``report_codec``) it keeps the shape /health has always shown.
"""

from dataclasses import dataclass, field

from app.application.report_codec import from_json, to_json
from app.domain.clock_skew import SkewSummary
from app.domain.feed_snapshot import STOPPED
from app.domain.minutes import AggregatorSnapshot


@dataclass(frozen=True)
class Percentiles:
    """Recent p50 and p99 in milliseconds; None before any sample."""

    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class GapReport:
    """A span of trades lost for good: ``lost`` is None when the exchange's ids can't tell how many."""

    symbol: str = ""
    from_: str = field(default="", metadata={"json": "from"})
    to: str = ""
    lost: int | None = None


@dataclass(frozen=True)
class ListingReport:
    """A feed that follows its exchange's listing: the pairs it follows from it, when it was last read, and why the
    latest read failed (null: it did not; the feed keeps the last listing it had)."""

    symbols: int = 0
    fetched_at: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class LiveSourceReport:
    """What only a real exchange's feed has: gaps (the newest few: ``gaps_count`` counts them all), recovery,
    resubscribes of silent symbols, clock skew."""

    gaps_count: int = 0
    gaps: tuple[GapReport, ...] = ()
    recovered: int = 0
    resubscribes: int = 0
    clock_skew: SkewSummary = field(default_factory=SkewSummary)


@dataclass(frozen=True)
class SourceReport:
    """One feed as its reader sees it: a summary whatever its width (its pairs counted by state, never listed)."""

    name: str = ""
    state: str = STOPPED
    connected_since: float | None = None
    last_message_age_s: float | None = None
    messages: int = 0
    ticks: int = 0
    reconnects: int = 0
    decode_errors: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    last_error: str | None = None
    last_exchange_error: str | None = None
    symbols: dict[str, int] = field(default_factory=dict)
    connections_open: int = 0
    connections: int = 0
    listing: ListingReport | None = None
    live: LiveSourceReport | None = field(default=None, metadata={"flatten": True})


@dataclass(frozen=True)
class Drops:
    """Ticks given up on: reads the ingest queue had no room for, and cache writes that failed."""

    ingest: int = 0
    cache_write_failed: int = 0


@dataclass(frozen=True)
class PipelineReport:
    running: bool = False
    queues: dict[str, int] = field(default_factory=dict)
    received: int = 0
    ticks: int = 0
    cached: int = 0
    rejected: int = 0
    drops: Drops = Drops()
    # Whether the cache holds the whole window of this process's feeds.
    cache_consistent: bool = False
    cache_restored: int = 0
    cache_lost: int = 0
    # Read to queryable in the cache.
    tick_to_cache_latency: Percentiles = Percentiles()


@dataclass(frozen=True)
class ProxyRuntime:
    """What this process's proxy router knows: the route of each feed it reads, its proxies' failures and
    benches (proxies masked)."""

    routes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    benched: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpkeepReport:
    """This process's part in keeping stored history: partitions its rounds made ahead and dropped past retention
    (by tier), minute rows its writes left out as past retention, and the oldest partition of each tier its last
    round saw (the database's, alike in every process)."""

    partitions_created: int = 0
    partitions_dropped: dict[str, int] = field(default_factory=dict)
    rows_past_retention: int = 0
    oldest_ms: dict[str, int | None] = field(default_factory=dict)


COUNTER = "counter"
HISTOGRAM = "histogram"


@dataclass(frozen=True)
class CountedSeries:
    """One labelled series of a counted family: ``counts`` is a histogram's cumulative bucket counts (in its
    bounds' order, +Inf last) or a counter's one value; ``sum`` a histogram's sum of observations."""

    labels: tuple[str, ...] = ()
    counts: tuple[float, ...] = ()
    sum: float = 0.0


@dataclass(frozen=True)
class MetricFamilyReport:
    """A counter or histogram this process keeps itself (its writes), so that any worker's scrape shows
    it for every process of its host. Label names (``process`` aside) and bucket upper bounds (+Inf aside, which
    JSON can't carry) are given once for all its series: the heartbeat carrying it is written every lease poll."""

    name: str = ""
    documentation: str = ""
    kind: str = COUNTER
    labels: tuple[str, ...] = ()
    bounds: tuple[float, ...] = ()
    series: tuple[CountedSeries, ...] = ()


@dataclass(frozen=True)
class ProcessReport:
    """``id`` is ``host:pid``, as every view names the process; ``run`` tells its incarnations apart."""

    id: str = ""
    run: str = ""
    host: str = ""
    pid: int = 0
    feeds: tuple[str, ...] = ()
    sources: tuple[SourceReport, ...] = ()
    pipeline: PipelineReport = PipelineReport()
    aggregator: AggregatorSnapshot = field(default_factory=AggregatorSnapshot)
    websocket_clients: int = 0
    proxy: ProxyRuntime = ProxyRuntime()
    upkeep: UpkeepReport = UpkeepReport()
    metrics: tuple[MetricFamilyReport, ...] = ()

    def to_json(self) -> dict[str, object]:
        return to_json(self)

    @classmethod
    def from_json(cls, data: object) -> "ProcessReport":
        """Another process's heartbeat; whatever it lacks (another version) reads as not reported."""
        return from_json(cls, data)


def process_name(host: str, pid: int) -> str:
    """How a process is named in /health, the heartbeats and every metric."""
    return f"{host}:{pid}"
