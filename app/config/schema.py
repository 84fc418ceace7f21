"""Every configuration key, its type and its default; the README documents each.

The loader rejects keys not declared here and values of the wrong type, so
a typo fails at startup instead of silently using a default.
"""

import os
from dataclasses import dataclass, field
from typing import Literal

from app.domain.validation import DEFAULT_MAX_PRICE

DEFAULT_SYMBOLS = ["BTCUSDT", "DOGEUSDT", "TONUSDT", "SOLUSDT", "ETHUSDT"]


@dataclass(frozen=True)
class HttpConfig:
    port: int = 8080
    host: str = "0.0.0.0"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    graceful_timeout: int = 20
    admin_token: str = ""
    allowed_origins: list[str] = field(default_factory=list)
    header_timeout_seconds: float = 10.0
    keepalive_seconds: float = 5.0
    max_connections: int = 1000


@dataclass(frozen=True)
class RedisConfig:
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "mf"
    socket_timeout: float = 0.5
    query_timeout: float = 0.5
    pool_size: int = 16
    pool_timeout: float = 1.0
    retry_after: float = 2.0


@dataclass(frozen=True)
class PostgresConfig:
    dsn: str = "postgresql://postgres@127.0.0.1:5432/test"
    pool_size: int = 4
    pool_timeout: float = 2.0
    connect_timeout: int = 2
    statement_timeout_ms: int = 5000
    retry_after: float = 2.0


@dataclass(frozen=True)
class LeasesConfig:
    ttl_seconds: float = 8.0


@dataclass(frozen=True)
class WindowConfig:
    raw_seconds: int = 300
    memory_max_ticks: int = 50_000


@dataclass(frozen=True)
class PipelineConfig:
    workers: int = 5
    ingest_queue_size: int = 4096
    ingest_put_timeout: float = 1.0
    result_queue_size: int = 4096
    cache_batch_size: int = 2000
    cache_batch_interval_ms: int = 20
    cache_queue_size: int = 8


@dataclass(frozen=True)
class AggregatorConfig:
    close_grace_seconds: float = 2.0
    flush_interval_seconds: float = 1.0
    checkpoint_seconds: float = 5.0
    spool_path: str = "var/spool/minutes.jsonl"
    spool_max_mb: int = 64


@dataclass(frozen=True)
class TestSourcesConfig:
    exchanges: list[str] = field(default_factory=lambda: ["test-exchange1", "test-exchange2", "test-exchange3"])
    rate_per_symbol: float = 2.0


@dataclass(frozen=True)
class TcpSourceConfig:
    name: str
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class WebSocketSourceConfig:
    name: str
    kind: Literal["binance", "bybit", "okx", "coinbase", "kraken"]
    url: str = ""
    symbols: list[str] = field(default_factory=list)
    ca_file: str = ""
    ping_interval_seconds: float = 0.0
    silence_timeout_seconds: float = 60.0
    ack_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 10.0
    min_connect_interval_seconds: float = 1.0
    # The REST base for backfill, without the API path ("": the exchange's documented base).
    rest_url: str = ""
    # A planned, overlapping reconnect after this long (0: the exchange's own cut, just under 24 h for Binance).
    max_connection_age_seconds: float = 0.0
    symbol_silence_seconds: float = 300.0
    max_clock_skew_seconds: float = 2.0


@dataclass(frozen=True)
class LiveSourcesConfig:
    tcp: list[TcpSourceConfig] = field(
        default_factory=lambda: [TcpSourceConfig(f"exchange{i}", 40100 + i) for i in (1, 2, 3)]
    )
    websocket: list[WebSocketSourceConfig] = field(
        default_factory=lambda: [WebSocketSourceConfig(kind, kind) for kind in ("binance", "bybit", "okx")]
    )
    reconnect_initial_seconds: float = 0.5
    reconnect_max_seconds: float = 30.0
    max_line_bytes: int = 4096
    silence_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class SourcesConfig:
    test: TestSourcesConfig = field(default_factory=TestSourcesConfig)
    live: LiveSourcesConfig = field(default_factory=LiveSourcesConfig)
    max_price: float = DEFAULT_MAX_PRICE


@dataclass(frozen=True)
class ProxyConfig:
    enabled: bool = False
    mode: Literal["static", "rotating", "disabled"] = "disabled"
    policy: Literal["fallback", "only"] = "fallback"
    proxies: list[str] = field(default_factory=list)
    static: str = ""
    bench_seconds: float = 60.0
    direct_retry_seconds: float = 300.0


@dataclass(frozen=True)
class StreamConfig:
    max_pending: int = 10_000
    max_lag_seconds: float = 10.0
    max_send_seconds: float = 10.0


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


@dataclass(frozen=True)
class Config:
    mode: Literal["test", "live"] = "test"
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    http: HttpConfig = field(default_factory=HttpConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    leases: LeasesConfig = field(default_factory=LeasesConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
