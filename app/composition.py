"""The composition root: the one place that picks adapters and wires services.

Building is free of side effects (no connection, no greenlet); ``start``
and ``stop`` are called by the server process only.
"""

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from gevent.lock import Semaphore
from prometheus_client import CollectorRegistry

from app.adapters.feeds.exchanges import PROTOCOLS
from app.adapters.feeds.synthetic import SyntheticSource
from app.adapters.feeds.tcp_lines import TcpLineSource
from app.adapters.feeds.trade_history import trade_history
from app.adapters.feeds.websocket_source import WebSocketSettings, WebSocketSource
from app.adapters.http import register_http
from app.adapters.http.access import AccessPolicy
from app.adapters.http.metrics import instrument_requests
from app.adapters.http.services import EXTENSION_KEY, HttpServices
from app.adapters.local.control_copy import FileControlCopy
from app.adapters.metrics.collector import ServiceCollector
from app.adapters.metrics.instrumented import MeasuredCache, MeasuredStore, WriteMetrics
from app.adapters.net.connector import Connector, tls_context
from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.pool import ConnectionPool
from app.adapters.redis.control_channel import RedisControlChannel
from app.adapters.redis.feed_leases import RedisFeedLeases
from app.adapters.redis.tick_cache import RedisTickCache, make_client
from app.adapters.redis.tick_relay import RedisTickRelay
from app.adapters.server.flask_commands import marketflow_commands
from app.adapters.server.runtime import RUNTIME_KEY
from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.application.backfill import Backfill
from app.application.backoff import Backoff, ConnectPacer
from app.application.candle_queries import CandleQueries
from app.application.feed_ownership import FeedOwnership, LeaseSettings
from app.application.health import HealthService, process_name
from app.application.incomplete_minutes import IncompleteMinutes
from app.application.modes import ModeService
from app.application.pipeline import Pipeline, PipelineSettings
from app.application.ports.feeds import FeedSource
from app.application.price_queries import PriceQueries
from app.application.price_stream import PriceStream
from app.application.proxy_routing import ProxyRouter, ProxySettings
from app.application.proxy_service import ProxyService
from app.application.recent_window import RecentWindow
from app.application.shared_control import SharedControl
from app.application.stream_relay import StreamRelay
from app.application.trade_continuity import TradeContinuity
from app.application.trade_gaps import TradeGaps
from app.config.loader import load_config
from app.config.schema import Config, WebSocketSourceConfig
from app.domain.clock_skew import ClockSkew
from app.domain.market import Market
from app.domain.proxy_endpoint import parse_proxy_url

log = logging.getLogger(__name__)
# Control requests carry at most a few proxy URLs.
MAX_BODY_BYTES = 64 * 1024


@dataclass
class Container:
    config: Config
    market: Market
    pipeline: Pipeline
    modes: ModeService
    queries: PriceQueries
    candles: CandleQueries
    health: HealthService
    proxy: ProxyService
    stream: PriceStream
    registry: CollectorRegistry
    pool: ConnectionPool
    access: AccessPolicy
    feeds: FeedOwnership
    control: SharedControl
    relay: StreamRelay
    spool: FileSpool
    started: bool = False
    _stopping: Semaphore = field(default_factory=Semaphore)

    def start(self) -> None:
        """Start the pipeline and the current mode's sources (server process only)."""
        if self.started:
            return
        self.started = True
        self.pipeline.start()
        self.control.restore()
        self.modes.start()
        self.feeds.start()
        self.control.start()
        self.relay.start()
        self.proxy.start()
        log.info("pipeline started", extra={"mode": self.modes.mode})
        log.info(self.access.rule)

    def stop(self) -> None:
        """Stop sources, drain queues, flush every minute, close connections.

        Idempotent, and a second caller waits for the first one's drain to finish
        (SIGTERM starts it; ``worker_exit`` must not let the process end before it).
        """
        with self._stopping:
            self._stop()

    def _stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.control.stop()
        self.relay.stop()
        self.stream.close_all()
        self.proxy.stop()
        self.feeds.stop_taking()
        self.pipeline.stop(timeout=max(1.0, self.config.http.graceful_timeout - 5))
        self.feeds.stop()  # leases handed back only now: a successor's replay finds every tick in the cache
        self.modes.stop()
        self.spool.close()
        self.pool.close()
        log.info("pipeline stopped")


def _websocket_source(
    ws: WebSocketSourceConfig, config: Config, connector: Connector, continuity: TradeContinuity, gaps: TradeGaps
) -> WebSocketSource:
    protocol = PROTOCOLS[ws.kind](ws.symbols or config.symbols)
    tls = tls_context(ws.ca_file)
    settings = WebSocketSettings(
        url=ws.url or protocol.default_url,
        connect_timeout=ws.connect_timeout_seconds,
        silence_timeout=ws.silence_timeout_seconds,
        ack_timeout=ws.ack_timeout_seconds,
        ping_interval=ws.ping_interval_seconds or protocol.default_ping_interval,
        tls=tls,
        max_connection_age=ws.max_connection_age_seconds or protocol.max_connection_age,
        symbol_silence=ws.symbol_silence_seconds,
    )
    history = trade_history(ws.kind, ws.name, ws.rest_url, connector, ws.connect_timeout_seconds, tls)
    live = config.sources.live
    return WebSocketSource(
        ws.name,
        protocol,
        settings,
        connector,
        Backoff(live.reconnect_initial_seconds, live.reconnect_max_seconds),
        ConnectPacer(ws.min_connect_interval_seconds),
        continuity,
        Backfill(ws.name, history, protocol.sequential_ids, gaps),
        ClockSkew(ws.max_clock_skew_seconds * 1000),
    )


def _sources(
    config: Config, connector: Connector, continuity: TradeContinuity, gaps: TradeGaps
) -> dict[str, Sequence[FeedSource]]:
    live = config.sources.live
    return {
        "test": [
            SyntheticSource(name, config.symbols, config.sources.test.rate_per_symbol)
            for name in config.sources.test.exchanges
        ],
        "live": [
            TcpLineSource(
                tcp.name,
                tcp.host,
                tcp.port,
                live.max_line_bytes,
                live.silence_timeout_seconds,
                connector,
                Backoff(live.reconnect_initial_seconds, live.reconnect_max_seconds),
            )
            for tcp in live.tcp
        ]
        + [_websocket_source(ws, config, connector, continuity, gaps) for ws in live.websocket],
    }


def _proxy_router(config: Config) -> ProxyRouter:
    proxy = config.proxy
    proxies = [parse_proxy_url(url) for url in proxy.proxies]
    settings = ProxySettings(
        enabled=proxy.enabled,
        mode=proxy.mode,
        policy=proxy.policy,
        proxies=proxies,
        static=parse_proxy_url(proxy.static) if proxy.static else (proxies[0] if proxy.mode == "static" else None),
        bench_seconds=proxy.bench_seconds,
        direct_retry_seconds=proxy.direct_retry_seconds,
    )
    return ProxyRouter(settings)


def build_container(config: Config) -> Container:
    router = _proxy_router(config)
    connector = Connector(router)
    pg = config.postgres
    pool = ConnectionPool(pg.dsn, pg.pool_size, pg.pool_timeout, pg.connect_timeout, pg.statement_timeout_ms)
    # Our deadline: the server's statement timeout plus the connect time, plus a margin.
    incomplete = IncompleteMinutes(
        PostgresMinuteStore(pool, pg.retry_after, pg.statement_timeout_ms / 1000 + pg.connect_timeout + 1)
    )
    gaps = TradeGaps(incomplete.gap_found)
    continuity = TradeContinuity(gaps)
    sources = _sources(config, connector, continuity, gaps)
    market = Market.of(config.symbols, [s.name for group in sources.values() for s in group])
    retention_ms = config.window.raw_seconds * 1000
    registry = CollectorRegistry()
    # Who this process is, in /health, the heartbeat and every metric it exports.
    host, pid = socket.gethostname(), os.getpid()
    writes = WriteMetrics(registry, process_name(host, pid))
    # Names this process's ticks in Redis and its seal marks, so a successor can tell what it must replay.
    run = os.urandom(4).hex()
    cache = MeasuredCache(
        RedisTickCache(
            make_client(config.redis, config.redis.socket_timeout),
            make_client(config.redis, config.redis.query_timeout),
            config.redis.key_prefix,
            retention_ms,
            config.redis.retry_after,
            run,
        ),
        writes,
    )
    store = MeasuredStore(incomplete, writes)
    window = RecentWindow(retention_ms, config.window.memory_max_ticks)
    spool_path = Path(config.aggregator.spool_path)
    spool = FileSpool(spool_path, config.aggregator.spool_max_mb * 1024 * 1024, run)
    aggregator = MinuteAggregator(store, spool, int(config.aggregator.close_grace_seconds * 1000))
    p = config.pipeline
    settings = PipelineSettings(
        workers=p.workers,
        ingest_queue_size=p.ingest_queue_size,
        ingest_put_timeout=p.ingest_put_timeout,
        result_queue_size=p.result_queue_size,
        cache_batch_size=p.cache_batch_size,
        cache_batch_interval=p.cache_batch_interval_ms / 1000,
        cache_queue_size=p.cache_queue_size,
        aggregate_interval=config.aggregator.flush_interval_seconds,
        checkpoint_interval=config.aggregator.checkpoint_seconds,
        max_price=config.sources.max_price,
    )
    pipeline = Pipeline(settings, frozenset(market.symbols), cache, window, aggregator)
    redis_client = make_client(config.redis, config.redis.socket_timeout)
    lease_settings = LeaseSettings(config.leases.ttl_seconds)
    leases = RedisFeedLeases(
        redis_client, config.redis.key_prefix, process_name(host, pid), run, lease_settings.expiry, 0.5
    )
    feeds = FeedOwnership(leases, leases, pipeline, aggregator, lease_settings, run)
    modes = ModeService(feeds, sources, config.mode)
    queries = PriceQueries(
        market,
        modes,
        cache,
        window,
        store,
        retention_ms,
        lambda: pipeline.cache_consistent,
        feeds.reading_since,
        gaps,
    )
    candles = CandleQueries(queries, store, retention_ms)
    stream = PriceStream(config.stream.max_pending, config.stream.max_lag_seconds, config.stream.max_send_seconds)
    proxy = ProxyService(router, modes, connector.probe_direct)
    health = HealthService(
        pipeline,
        modes,
        cache,
        store,
        aggregator,
        leases,
        feeds.held,
        gaps,
        lambda: stream.clients,
        proxy.runtime,
        host,
        pid,
    )
    feeds.summary = health.summary
    control = SharedControl(
        RedisControlChannel(redis_client, config.redis.key_prefix, config.redis.retry_after),
        FileControlCopy(spool_path.with_name("control.json")),
        modes,
        proxy,
    )
    relay = StreamRelay(
        RedisTickRelay(redis_client, config.redis.key_prefix, config.redis.retry_after),
        stream,
        run,
        lambda: feeds.processes > 1,
    )
    pipeline.observers.append(relay.publish)
    pipeline.observers.append(continuity.observe)
    registry.register(ServiceCollector(health.processes, host))
    access = AccessPolicy(config.http.admin_token, config.http.allowed_origins)
    return Container(
        config,
        market,
        pipeline,
        modes,
        queries,
        candles,
        health,
        proxy,
        stream,
        registry,
        pool,
        access,
        feeds,
        control,
        relay,
        spool,
    )


def create_app(config: Config | None = None) -> Flask:
    """The Flask app with its services wired but idle: nothing connects or runs yet."""
    config = config or load_config()
    app = Flask("marketflow", static_folder=None)  # the dashboard blueprint serves /static
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    container = build_container(config)
    app.extensions[RUNTIME_KEY] = container
    app.extensions[EXTENSION_KEY] = HttpServices(
        container.queries,
        container.candles,
        container.modes,
        container.health,
        container.proxy,
        container.control,
        container.stream,
        container.market,
        container.access,
        container.registry,
    )
    register_http(app)
    instrument_requests(app, container.registry, container.health.process_id)
    app.cli.add_command(marketflow_commands)
    return app
