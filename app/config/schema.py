"""Every configuration key: its type, its default, what it means and its range.

Each field is declared with ``key`` (or ``port``), so this file is the one
source: the loader checks every range from it, and the README's table is
rendered from it (``make config-table``). The loader also rejects keys not
declared here and values of the wrong type, so a typo fails at startup
instead of silently using a default.

``key`` returns a ``dataclasses.field`` (a list key gets a fresh list per
config from its ``factory``); ruff is told so in ``pyproject.toml``.
"""

import os
from dataclasses import dataclass, field
from typing import Literal

from app.adapters.feeds.exchanges import EXCHANGE_KINDS
from app.config import exchange_figures
from app.config.keys import key, port
from app.domain.retention import Retention
from app.domain.time_grid import SECONDS_PER_DAY
from app.domain.validation import DEFAULT_MAX_PRICE

DEFAULT_SYMBOLS = ["BTCUSDT", "DOGEUSDT", "TONUSDT", "SOLUSDT", "ETHUSDT"]
# A price bound far above any market, yet low enough that a sum of 10^290 such prices stays finite.
MAX_PRICE_BOUND = 1e15
RETRY_AFTER_DOC = "after a failure, seconds of failing fast (one probe at a time retries)"


@dataclass(frozen=True)
class HttpConfig:
    port: int = port(8080, doc="the port the API listens on")
    host: str = key("0.0.0.0", doc="the address the API listens on")
    workers: int = key(
        factory=lambda: os.cpu_count() or 1,
        shown="one per CPU",
        doc="gunicorn workers; each serves the whole API and reads its share of the feeds: see "
        "[several workers and hosts](#several-workers-and-hosts)",
        at_least=1,
        at_most=256,
    )
    graceful_timeout: int = key(20, doc="seconds to finish requests and drain on shutdown", above=0)
    admin_token: str = key(
        "",
        doc="the token every control request must carry (`Authorization: Bearer ...`): at least 16 printable "
        "ASCII characters without spaces (e.g. `openssl rand -hex 16`). Unset: control requests from loopback only",
    )
    allowed_origins: list[str] = key(
        factory=list,
        doc="other origins (`https://host[:port]`) whose pages may send control requests and open `/ws/prices`, "
        "e.g. the public name behind a reverse proxy",
    )
    header_timeout_seconds: float = key(
        10.0, doc="a request line and headers must arrive within this, or the answer is 408", above=0
    )
    keepalive_seconds: float = key(5.0, doc="how long a kept-alive connection may sit idle between requests", above=0)
    max_connections: int = key(
        1000,
        doc="connections per worker (gunicorn's `worker_connections`); at most half may be waiting for a request "
        "at once, the longest waiting one is closed past that. The service raises its open-file limit to fit "
        "(startup fails, naming this key, if it can't)",
        at_least=10,
    )


@dataclass(frozen=True)
class RedisConfig:
    url: str = key(
        "redis://127.0.0.1:6379/0",
        doc="Redis server: `redis://`, `rediss://` or `unix://`; with `redis.cluster`, the startup nodes: "
        "`redis://` or `rediss://` URLs, comma-separated",
    )
    cluster: bool = key(
        False,
        doc="Redis Cluster: every Redis use goes through redis-py's cluster client ([Redis Cluster](#redis-cluster))",
    )
    key_prefix: str = key("mf", doc="prefix of every key: not empty, no spaces, none of `*?[]{}\\`")
    socket_timeout: float = key(0.5, doc="connect and read timeout of the writer, seconds", above=0)
    query_timeout: float = key(
        0.5, doc="connect and read timeout of queries, seconds (their own pool and breaker)", above=0
    )
    pool_size: int = key(16, doc="blocking pool size (each: the writer's and the queries')", above=0)
    pool_timeout: float = key(1.0, doc="wait for a pooled connection, seconds", above=0)
    retry_after: float = key(2.0, doc=RETRY_AFTER_DOC, at_least=0)

    def nodes(self) -> list[str]:
        """Each URL ``url`` holds: the one server's, or on a cluster every startup node's (comma-separated)."""
        if not self.cluster:
            return [self.url]
        return [part.strip() for part in self.url.split(",") if part.strip()]


@dataclass(frozen=True)
class PostgresConfig:
    dsn: str = key(
        "postgresql://postgres@127.0.0.1:5432/test",
        doc="PostgreSQL server: `postgresql://...` or `key=value` pairs",
    )
    pool_size: int = key(4, doc="gevent connection pool size", above=0)
    pool_timeout: float = key(2.0, doc="wait for a pooled connection, seconds", above=0)
    connect_timeout: int = key(2, doc="connect timeout, seconds", above=0)
    statement_timeout_ms: int = key(5000, doc="server-side statement timeout, ms", above=0)
    retry_after: float = key(2.0, doc=RETRY_AFTER_DOC, at_least=0)


@dataclass(frozen=True)
class LeasesConfig:
    # A lease is renewed several times per TTL, at most once a second; beyond a minute a dead owner's feeds
    # would stay unread too long.
    ttl_seconds: float = key(
        8.0,
        doc="how soon a dead process's feeds are read again ([leases](docs/design.md#one-reader-per-feed))",
        at_least=1,
        at_most=60,
    )
    single_host: bool = key(
        False,
        doc="only this host runs marketflow against these Redis and PostgreSQL: while neither answers, its "
        "processes still read the feeds (one reader each, by a lock file beside the spool) into memory and the "
        "spool. Never on two hosts: each would read every feed ([Redis down](docs/design.md#redis-down))",
    )


@dataclass(frozen=True)
class WindowConfig:
    raw_seconds: int = key(
        300,
        doc="the retention of raw ticks and buckets: periods up to it are exact to the millisecond",
        at_least=60,
    )
    memory_max_ticks: int = key(
        50_000,
        doc="raw ticks kept in process per (exchange, symbol) for when Redis is down (the buckets are always "
        "kept whole)",
        above=0,
    )


@dataclass(frozen=True)
class PipelineConfig:
    workers: int = key(5, doc="decode workers", above=0)
    ingest_queue_size: int = key(4096, doc="reads queued before sources wait", above=0)
    ingest_put_timeout: float = key(
        1.0, doc="how long a source waits for room before its read is dropped, seconds", at_least=0
    )
    result_queue_size: int = key(4096, doc="decoded reads queued for the collector", above=0)
    cache_batch_size: int = key(2000, doc="a Redis batch is sent at this many ticks…", above=0)
    cache_batch_interval_ms: int = key(20, doc="…or at this age, ms", at_least=0)
    cache_queue_size: int = key(8, doc="batches queued for the Redis writer", above=0)


@dataclass(frozen=True)
class AggregatorConfig:
    close_grace_seconds: float = key(2.0, doc="how long after its end a minute is sealed", at_least=0)
    flush_interval_seconds: float = key(1.0, doc="how often sealed minutes are written", above=0)
    checkpoint_seconds: float = key(
        5.0,
        doc="how often open minutes are sealed as deltas (bounds what a crash leaves for the Redis replay; "
        "0: only when a minute closes)",
        at_least=0,
    )
    spool_path: str = key(
        "var/spool/minutes.jsonl",
        doc="the on-disk spool of sealed minutes (relative to the working directory; its directory must be "
        "writable); it must have an extension: each process's file is `<stem>.<run><extension>`",
    )
    spool_max_mb: int = key(64, doc="the spool's bound; beyond it the oldest batch is dropped and logged", above=0)


# A shard is a feed: a lease, a fence and (for a WebSocket exchange) at least one connection of its own.
MAX_SHARDS = 64
SYMBOLS_PER_SHARD = 1000
SHARDS_DOC = (
    "how many feeds each exchange's symbols are split into (a stable hash of the symbol), so that several processes "
    "share its reading: each shard is read by one process under a lease of its own "
    "([shards](docs/design.md#shards)). Change it only with the service stopped"
)


@dataclass(frozen=True)
class DiscoverConfig:
    quotes: list[str] = key(
        factory=lambda: ["USDT"],
        doc="quote assets (upper case) whose pairs are followed: every pair the exchange lists as trading with one "
        "of them",
    )
    refresh_seconds: float = key(
        600.0,
        doc="how often the listing is fetched again: new listings are subscribed, delisted or halted pairs "
        "unsubscribed (shown as `delisted`; their stored minutes stay)",
        at_least=5,
        at_most=SECONDS_PER_DAY,
    )
    max_symbols: int = key(
        5000, doc="at most this many pairs from the listing (the first by name), besides `symbols`", at_least=1
    )


@dataclass(frozen=True)
class TestSourcesConfig:
    exchanges: list[str] = key(
        factory=lambda: ["test-exchange1", "test-exchange2", "test-exchange3"],
        doc="names of the synthetic exchanges (at least one)",
    )
    rate_per_symbol: float = key(
        2.0,
        doc="synthetic ticks per second per exchange and symbol on average; the k-th of `symbols` trades 1/k as often "
        "as the first, as in a real market",
        above=0,
    )
    shards: int = key(1, doc=SHARDS_DOC, at_least=1, at_most=MAX_SHARDS)


EXCHANGE_NAME_DOC = "the exchange name in the API: letters, digits, `.`, `_` or `-`, unique among all feeds"


@dataclass(frozen=True)
class TcpSourceConfig:
    name: str = key(doc=EXCHANGE_NAME_DOC)
    port: int = port(doc="the exchange program's port")
    host: str = key("127.0.0.1", doc="the exchange program's host")


@dataclass(frozen=True)
class WebSocketSourceConfig:
    name: str = key(doc=EXCHANGE_NAME_DOC)
    # Exactly the registered exchanges: a new one is accepted once it is in the registry, and only then.
    kind: Literal[EXCHANGE_KINDS] = key(  # type: ignore[valid-type]
        doc="the exchange's protocol ([live mode](docs/design.md#live-mode))"
    )
    url: str = key("", shown="the exchange's documented endpoint", doc="`ws://` or `wss://` URL")
    symbols: list[str] = key(
        factory=list,
        shown="all `symbols` (none with `discover`)",
        doc="which of `symbols` to subscribe to; with `discover`, followed besides the listing's",
    )
    discover: DiscoverConfig | None = key(
        None,
        shown="none: only `symbols`",
        doc="follow what the exchange lists over its public REST API, refreshed while running "
        "([discovery](docs/design.md#discovery)); never in test mode. `discover: {}` takes every key's default",
    )
    shards: int = key(
        0,
        shown=f"`0`: 1, or with `discover` one per {SYMBOLS_PER_SHARD:,} of `max_symbols`",
        doc=SHARDS_DOC,
        at_least=0,
        at_most=MAX_SHARDS,
    )
    max_symbols_per_connection: int = key(
        0,
        shown=f"`0`: the exchange's own bound ({exchange_figures.connection_bounds()})",
        doc="how many symbols one WebSocket connection subscribes to at most; more symbols take more connections",
        at_least=0,
    )
    ca_file: str = key(
        "", doc="extra CA certificates to trust (a private CA or a TLS-inspecting proxy); the file must exist"
    )
    ping_interval_seconds: float = key(
        0.0,
        shown=f"`0.0`: the exchange's default ({exchange_figures.ping_intervals()})",
        doc=f"client ping interval ({exchange_figures.ping_frames()} get WebSocket ping frames, the others their own "
        "ping message)",
        at_least=0,
    )
    silence_timeout_seconds: float = key(60.0, doc="no trade this long: reconnect", above=0)
    ack_timeout_seconds: float = key(10.0, doc="subscription not acknowledged this long: reconnect", above=0)
    connect_timeout_seconds: float = key(10.0, doc="TCP, TLS and handshake timeout", above=0)
    min_connect_interval_seconds: float = key(
        1.0, doc="at most one connection attempt per interval to this exchange", at_least=0
    )
    rest_url: str = key(
        "",
        shown=f"the exchange's documented REST base ({exchange_figures.rest_bases()})",
        doc="where the listing (`discover`) and missed trades are fetched: `http(s)://host[:port]`, no path",
    )
    max_connection_age_seconds: float = key(
        0.0,
        shown=f"`0.0`: the exchange's own cut ({exchange_figures.connection_ages()})",
        doc="a planned, overlapping reconnect after this long",
        at_least=0,
    )
    symbol_silence_seconds: float = key(
        300.0, doc="a symbol silent this long while others trade is flagged and resubscribed", above=0
    )
    max_clock_skew_seconds: float = key(
        2.0, doc="a median receive-minus-exchange time past this (either way) flags the source", above=0
    )

    def shard_count(self) -> int:
        """``shards``, or its default: 1 for a fixed list, one per ``SYMBOLS_PER_SHARD`` of a listing's bound."""
        if self.shards:
            return self.shards
        return 1 if self.discover is None else min(MAX_SHARDS, -(-self.discover.max_symbols // SYMBOLS_PER_SHARD))


@dataclass(frozen=True)
class LiveSourcesConfig:
    tcp: list[TcpSourceConfig] = key(
        factory=lambda: [TcpSourceConfig(f"exchange{i}", 40100 + i) for i in (1, 2, 3)],
        shown="`exchange1..3` on `127.0.0.1:40101-40103`",
        doc="the exchange programs (JSON lines over TCP); each entry has the keys below",
    )
    websocket: list[WebSocketSourceConfig] = key(
        factory=lambda: [WebSocketSourceConfig(kind, kind) for kind in ("binance", "bybit", "okx")],
        shown="`binance`, `bybit`, `okx`",
        doc="real exchanges; each entry has the keys below",
    )
    reconnect_initial_seconds: float = key(
        0.5, doc="first wait of the reconnect backoff (exponential, jittered, capped)", above=0
    )
    reconnect_max_seconds: float = key(30.0, doc="the backoff's cap; at least `reconnect_initial_seconds`", above=0)
    max_line_bytes: int = key(4096, doc="longer lines are skipped and counted", above=0)
    silence_timeout_seconds: float = key(30.0, doc="a TCP feed silent this long is reconnected", above=0)


@dataclass(frozen=True)
class SourcesConfig:
    test: TestSourcesConfig = field(default_factory=TestSourcesConfig)
    live: LiveSourcesConfig = field(default_factory=LiveSourcesConfig)
    max_price: float = key(
        DEFAULT_MAX_PRICE,
        doc="a price above this, from any feed, is rejected as `bad_price`; bounded so that sums of many prices "
        "stay finite",
        above=0,
        at_most=MAX_PRICE_BOUND,
    )


@dataclass(frozen=True)
class ProxyConfig:
    enabled: bool = key(
        False,
        doc="use the proxy at startup (live mode only); needs `proxy.mode` `static` or `rotating` and at least "
        "one proxy",
    )
    mode: Literal["static", "rotating", "disabled"] = key("disabled", doc="one proxy, or each connection the next")
    policy: Literal["fallback", "only"] = key(
        "fallback", doc="direct first, proxies when direct fails; or proxies only"
    )
    proxies: list[str] = key(
        factory=list, doc="proxy URLs, `http://` or `socks5://` `[user:pass@]host:port` (credentials allowed)"
    )
    static: str = key("", shown="the first proxy", doc="which proxy static mode uses: one of `proxy.proxies`")
    bench_seconds: float = key(60.0, doc="how long a failed proxy sits out of the rotation", at_least=0)
    direct_retry_seconds: float = key(
        300.0, doc="under `fallback`, how often a probe tries direct while a feed is on a proxy", at_least=0
    )


@dataclass(frozen=True)
class RetentionConfig:
    minutes_days: int = key(
        35,
        doc="days of minute rows kept (whole UTC days, dropped a day-partition at a time): windows and candles "
        "reaching further are answered from hours, and say `partial` where their edges can't be exact",
        at_least=1,
        at_most=36_500,
    )
    hours_days: int = key(
        400,
        doc="days of hourly rows kept (at least `minutes_days`); further back, days answer",
        at_least=1,
        at_most=36_500,
    )
    days_days: int = key(
        0, doc="days of daily rows kept (0: for ever; else at least `hours_days`)", at_least=0, at_most=36_500
    )

    def tiers(self) -> Retention:
        return Retention(self.minutes_days, self.hours_days, self.days_days)


@dataclass(frozen=True)
class StreamConfig:
    max_pending: int = key(10_000, doc="ticks queued per WebSocket client before its prices are coalesced", above=0)
    max_lag_seconds: float = key(10.0, doc="a client behind this long is closed (1008)", above=0)
    max_send_seconds: float = key(10.0, doc="a client whose send blocks this long is cut off", above=0)


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = key("INFO", doc="the least severe level logged")
    format: Literal["json", "text"] = key(
        "json", doc="`json`: one object per line, with context fields and the request id"
    )


@dataclass(frozen=True)
class Config:
    mode: Literal["test", "live"] = key(
        "test",
        doc="the mode the first start uses: once a switch is made through the API (`POST /mode/...`), the mode saved"
        " in Redis and each host's copy wins over this at every start, until switched again",
    )
    symbols: list[str] = key(
        factory=lambda: list(DEFAULT_SYMBOLS),
        doc="the symbols accepted from feeds and queries (at least one; letters and digits)",
    )
    http: HttpConfig = field(default_factory=HttpConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    leases: LeasesConfig = field(default_factory=LeasesConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
