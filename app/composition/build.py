"""``build_container``: the whole process wired from its configuration, with any port substituted.

Every connection between services is made here: which service hears of
mode switches, of fenced feeds, of recorded gaps and of each batch of
ticks, and what the heartbeat reports. A test passes in-memory ports (or a
fixed set of sources) and gets the very graph the server runs.
"""

import os
import socket
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry

from app.adapters.http.access import AccessPolicy
from app.adapters.metrics.collector import ServiceCollector
from app.adapters.metrics.instrumented import MeasuredCache, MeasuredStore, WriteMetrics
from app.adapters.metrics.local_families import LocalFamilies
from app.adapters.net.connector import Connector
from app.application.aggregator import MinuteAggregator
from app.application.candle_queries import CandleQueries
from app.application.fallback_leases import FallbackLeases
from app.application.feed_ownership import FeedOwnership, LeaseSettings
from app.application.health import HealthService
from app.application.history_upkeep import HistoryUpkeep
from app.application.incomplete_minutes import IncompleteMinutes
from app.application.modes import ModeService
from app.application.pair_catalogue import PairCatalogue
from app.application.ports.coordination import (
    ControlChannel,
    ControlCopy,
    FeedLeases,
    GapBook,
    PairRegistry,
    ProcessRegistry,
    TickRelay,
)
from app.application.ports.feeds import FeedSource
from app.application.ports.storage import BatchSpool, RetainingStore, StoredHistory, TickCache
from app.application.price_queries import PriceQueries
from app.application.price_stream import PriceStream
from app.application.process_report import process_name
from app.application.process_reporter import ProcessReporter
from app.application.proxy_service import ProxyService
from app.application.recent_window import RecentWindow
from app.application.shared_control import SharedControl
from app.application.stream_relay import StreamRelay
from app.application.trade_continuity import TradeContinuity
from app.application.trade_gaps import TradeGaps
from app.composition import adapters
from app.composition.container import Closable, Container
from app.composition.pipeline import PipelineSettings, build_pipeline
from app.composition.sources import build_feed_map, feed_sources
from app.config.masking import scrubber
from app.config.schema import Config
from app.domain.market import Market
from app.domain.time_grid import MS_PER_SECOND, seconds_to_ms

# Partitions past retention go within this of their bound; those ahead are made a week ahead.
UPKEEP_SECONDS = 600.0


def build_container(
    config: Config,
    *,
    store: RetainingStore | None = None,
    history: StoredHistory | None = None,
    cache: TickCache | None = None,
    spool: BatchSpool | None = None,
    leases: FeedLeases | None = None,
    registry: ProcessRegistry | None = None,
    channel: ControlChannel | None = None,
    control_copy: ControlCopy | None = None,
    relay: TickRelay | None = None,
    pairs: PairRegistry | None = None,
    gap_book: GapBook | None = None,
    sources: Mapping[str, Sequence[FeedSource]] | None = None,
) -> Container:
    """The process, idle; a port left out is the real adapter the configuration names.

    The feed locks behind the leases and the exchanges' trade histories are no parameters of their own: they
    are built only for the real leases and the configured sources, so substituting those leaves them out too.
    """
    host, pid = socket.gethostname(), os.getpid()
    process = process_name(host, pid)
    # Names this process's ticks in Redis and its seal marks, so a successor can tell what it must replay.
    run = os.urandom(4).hex()
    retention_ms = config.window.raw_seconds * MS_PER_SECOND
    scrub = scrubber(config)
    resources: list[Closable] = []
    metrics = CollectorRegistry()
    # Served by none: the report carries what is counted here, so any worker's scrape shows every process's.
    counted = CollectorRegistry()
    writes = WriteMetrics(counted)

    router = adapters.proxy_router(config)
    connector = Connector(router)
    if store is None:
        pool = adapters.postgres_pool(config.postgres)
        resources.append(pool)
        store = adapters.postgres_store(pool, config)
    redis = adapters.RedisCoordination(config.redis)
    incomplete = IncompleteMinutes(store)
    gaps = TradeGaps(incomplete, gap_book or redis.gap_book())
    feed_map = build_feed_map(config)
    measured_cache = MeasuredCache(
        cache or adapters.redis_tick_cache(config.redis, retention_ms, run, feed_map), writes
    )
    continuity = TradeContinuity(gaps, measured_cache, retention_ms)
    if sources is None:
        sources = feed_sources(config, feed_map, connector, continuity, gaps)
    if history is None:
        history = adapters.postgres_history(config, [s.name for group in sources.values() for s in group], resources)
    upkeep = HistoryUpkeep(history, store, config.retention.tiers(), UPKEEP_SECONDS)
    market = Market(config.symbols, dict.fromkeys(s.exchange for group in sources.values() for s in group))

    lease_settings = LeaseSettings(config.leases.ttl_seconds)
    if leases is None or registry is None:
        redis_leases = redis.leases(process, run, lease_settings.expiry)
        registry = registry or redis_leases
        if leases is None:  # pinned in PostgreSQL (and on this host), so a feed keeps one reader while Redis is down
            locks = [adapters.postgres_feed_locks(config, redis_leases.identity)]
            if config.leases.single_host:
                locks.append(adapters.host_feed_locks(config.aggregator))
            resources.extend(locks)
            leases = FallbackLeases(redis_leases, locks)
    measured_store = MeasuredStore(incomplete, writes)
    if spool is None:
        file_spool = adapters.file_spool(config.aggregator, run)
        resources.insert(0, file_spool)
        spool = file_spool

    window = RecentWindow(retention_ms, config.window.memory_max_ticks)
    aggregator = MinuteAggregator(measured_store, spool, seconds_to_ms(config.aggregator.close_grace_seconds))
    pipeline = build_pipeline(_pipeline_settings(config), measured_cache, window, aggregator)
    feeds = FeedOwnership(leases, registry, pipeline, aggregator, lease_settings, run)
    aggregator.fence_listener = feeds
    modes = ModeService(feeds, sources, config.mode)
    proxy = ProxyService(router, modes, connector, feeds, scrub)
    modes.listeners.append(proxy)
    queries = PriceQueries(
        market,
        modes,
        measured_cache,
        window,
        measured_store,
        retention_ms,
        pipeline,
        feeds,
        feed_map,
        gaps,
        config.retention.tiers(),
    )
    candles = CandleQueries(queries, measured_store, retention_ms)
    stream = PriceStream(config.stream.max_pending, config.stream.max_lag_seconds, config.stream.max_send_seconds)
    relay_service = StreamRelay(relay or redis.relay(), stream, run, feeds)
    catalogue = PairCatalogue(pairs or redis.pairs(), pipeline, feed_map, market, modes)
    pipeline.observe(relay_service, continuity, catalogue)
    reporter = ProcessReporter(
        pipeline, aggregator, feeds, gaps, stream, proxy, upkeep, LocalFamilies(counted), host, pid, run
    )
    feeds.reporter = reporter
    health = HealthService(
        reporter, registry, modes, {"redis": measured_cache, "postgres": measured_store}, scrub, history=upkeep
    )
    control = SharedControl(
        channel or redis.channel(), control_copy or adapters.control_copy(config.aggregator), modes, proxy
    )
    metrics.register(ServiceCollector(health.processes, host))
    return Container(
        config=config,
        market=market,
        pipeline=pipeline,
        modes=modes,
        queries=queries,
        candles=candles,
        catalogue=catalogue,
        reporter=reporter,
        health=health,
        proxy=proxy,
        stream=stream,
        metrics=metrics,
        process=process,
        access=AccessPolicy(config.http.admin_token, config.http.allowed_origins),
        feeds=feeds,
        control=control,
        relay=relay_service,
        history=upkeep,
        resources=resources,
    )


def _pipeline_settings(config: Config) -> PipelineSettings:
    p = config.pipeline
    return PipelineSettings(
        workers=p.workers,
        ingest_queue_size=p.ingest_queue_size,
        ingest_put_timeout=p.ingest_put_timeout,
        result_queue_size=p.result_queue_size,
        cache_batch_size=p.cache_batch_size,
        cache_batch_interval=p.cache_batch_interval_ms / MS_PER_SECOND,
        cache_queue_size=p.cache_queue_size,
        aggregate_interval=config.aggregator.flush_interval_seconds,
        checkpoint_interval=config.aggregator.checkpoint_seconds,
        max_price=config.sources.max_price,
    )
