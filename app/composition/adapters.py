"""Each real adapter, built from its section of the configuration. Building connects nothing: clients and pools
connect on first use."""

from collections.abc import Collection
from pathlib import Path

from app.adapters.local.control_copy import FileControlCopy
from app.adapters.local.host_feed_locks import HostFeedLocks
from app.adapters.postgres.advisory_leases import PostgresFeedLocks
from app.adapters.postgres.calls import PostgresCalls
from app.adapters.postgres.history import PostgresHistory
from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.pool import ConnectionPool
from app.adapters.redis.clients import make_client
from app.adapters.redis.control_channel import RedisControlChannel
from app.adapters.redis.feed_leases import RedisFeedLeases
from app.adapters.redis.gap_book import RedisGapBook
from app.adapters.redis.keys import RedisKeys
from app.adapters.redis.pair_registry import RedisPairRegistry
from app.adapters.redis.tick_cache import RedisTickCache
from app.adapters.redis.tick_relay import RedisTickRelay
from app.adapters.spool.file_spool import FileSpool
from app.application.proxy_routing import ProxyRouter
from app.composition.container import Closable
from app.config.schema import AggregatorConfig, Config, PostgresConfig, RedisConfig
from app.domain.feed_map import FeedMap
from app.domain.proxy_endpoint import parse_proxy_url
from app.domain.proxy_settings import ProxySettings
from app.domain.time_grid import MS_PER_SECOND


def postgres_pool(pg: PostgresConfig) -> ConnectionPool:
    return ConnectionPool(pg.dsn, pg.pool_size, pg.pool_timeout, pg.connect_timeout, pg.statement_timeout_ms)


def _call_deadline(pg: PostgresConfig) -> float:
    """How long we wait on any PostgreSQL call: the server's statement timeout plus the connect time, plus a
    margin, so the server's own timeout is the one that normally ends a slow statement."""
    return pg.statement_timeout_ms / MS_PER_SECOND + pg.connect_timeout + 1


def postgres_calls(pool: ConnectionPool, pg: PostgresConfig) -> PostgresCalls:
    return PostgresCalls(pool, pg.retry_after, _call_deadline(pg))


def postgres_store(pool: ConnectionPool, config: Config) -> PostgresMinuteStore:
    return PostgresMinuteStore(postgres_calls(pool, config.postgres), config.retention.tiers())


def postgres_history(config: Config, feeds: Collection[str], resources: list[Closable]) -> PostgresHistory:
    """On a connection and a breaker of its own (its pool joins ``resources``): a round never waits for the
    store's connections nor holds one of them, and a failed round never makes the store's writes fail fast."""
    pg = config.postgres
    pool = ConnectionPool(pg.dsn, 1, pg.pool_timeout, pg.connect_timeout, pg.statement_timeout_ms)
    resources.append(pool)
    return PostgresHistory(postgres_calls(pool, pg), config.retention.tiers(), feeds)


def postgres_feed_locks(config: Config, holder: str) -> PostgresFeedLocks:
    """The leases' second store, on a session of its own (its locks live as long as it does)."""
    pg = config.postgres
    return PostgresFeedLocks(
        pg.dsn, pg.connect_timeout, _call_deadline(pg), pg.retry_after, config.redis.key_prefix, holder
    )


def redis_tick_cache(redis: RedisConfig, retention_ms: int, run: str, feeds: FeedMap) -> RedisTickCache:
    """Writes and reads on separate clients and timeouts, so a slow read never looks like a dead server to the
    writer."""
    return RedisTickCache(
        make_client(redis, redis.socket_timeout),
        make_client(redis, redis.query_timeout),
        redis_keys(redis),
        retention_ms,
        redis.retry_after,
        run,
        feeds,
    )


def redis_keys(redis: RedisConfig) -> RedisKeys:
    return RedisKeys(redis.key_prefix, redis.cluster)


class RedisCoordination:
    """The leases, registry, control channel, tick relay and gap book, on one client of their own."""

    def __init__(self, redis: RedisConfig) -> None:
        self._redis = redis
        self._client = make_client(redis, redis.socket_timeout)
        self._keys = redis_keys(redis)

    def leases(self, process: str, run: str, expiry: float) -> RedisFeedLeases:
        return RedisFeedLeases(self._client, self._keys, process, run, expiry, 0.5)

    def channel(self) -> RedisControlChannel:
        return RedisControlChannel(self._client, self._keys, self._redis.retry_after)

    def relay(self) -> RedisTickRelay:
        return RedisTickRelay(self._client, self._keys, self._redis.retry_after)

    def pairs(self) -> RedisPairRegistry:
        return RedisPairRegistry(self._client, self._keys, self._redis.retry_after)

    def gap_book(self) -> RedisGapBook:
        return RedisGapBook(self._client, self._keys, self._redis.retry_after)


def file_spool(aggregator: AggregatorConfig, run: str) -> FileSpool:
    return FileSpool(Path(aggregator.spool_path), aggregator.spool_max_mb * 1024 * 1024, run)


def host_feed_locks(aggregator: AggregatorConfig) -> HostFeedLocks:
    """Beside the spool, on this host's disk: ``leases.single_host``'s lock files."""
    return HostFeedLocks(Path(aggregator.spool_path).with_name("leases"))


def control_copy(aggregator: AggregatorConfig) -> FileControlCopy:
    """Beside the spool: this host's copy of the shared control state."""
    return FileControlCopy(Path(aggregator.spool_path).with_name("control.json"))


def proxy_router(config: Config) -> ProxyRouter:
    """Test mode never uses a proxy: there it starts off, whatever the configuration says."""
    proxy = config.proxy
    proxies = [parse_proxy_url(url) for url in proxy.proxies]
    settings = ProxySettings(
        enabled=proxy.enabled and config.mode != "test",
        mode=proxy.mode,
        policy=proxy.policy,
        proxies=proxies,
        static=parse_proxy_url(proxy.static) if proxy.static else (proxies[0] if proxy.mode == "static" else None),
        bench_seconds=proxy.bench_seconds,
        direct_retry_seconds=proxy.direct_retry_seconds,
    )
    return ProxyRouter(settings)
