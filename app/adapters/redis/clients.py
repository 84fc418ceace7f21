"""Redis clients: one server, or Redis Cluster through redis-py's cluster client (``redis.cluster``).

Either way a client never blocks for long: pool waits, connects and reads
time out, and a failed command is not retried here (the breakers decide
when to try again). On a cluster, redis-py follows MOVED and ASK itself (a
slot migration) and reloads the slot map after a node fails, so the first
command after a failover fails fast and the next ones reach the promoted
replica.
"""

import functools
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from app.config.schema import RedisConfig

# What a Redis call may raise when Redis does not answer (a cluster without a reachable node raises the last).
REDIS_ERRORS = (redis.RedisError, RedisClusterException, OSError)


class ClusterClient:
    """redis-py's ``RedisCluster``, built on first use.

    ``RedisCluster`` connects to its startup nodes as it is built, and fails
    if none answers; marketflow starts without Redis (it is then "down", and
    heals), so the client is built by the first call that needs it, and by
    the next ones until that succeeds. Every attribute is the cluster
    client's; only scripts are registered without it (a ``Lock`` registers
    its own when it is made).
    """

    def __init__(self, config: RedisConfig, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._client: RedisCluster | None = None

    def register_script(self, script: str) -> Script:
        return Script(self, script.encode())  # bytes: no encoder asked of a client not built yet

    def __getattr__(self, name: str) -> object:
        if self._client is None:
            self._client = _cluster_client(self._config, self._timeout)
        return getattr(self._client, name)


Client = redis.Redis | ClusterClient


def make_client(config: RedisConfig, timeout: float) -> Client:
    if config.cluster:
        return ClusterClient(config, timeout)
    pool = redis.BlockingConnectionPool.from_url(
        config.url,
        max_connections=config.pool_size,
        timeout=config.pool_timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


def _cluster_client(config: RedisConfig, timeout: float) -> RedisCluster:
    """The first URL gives the credentials and TLS; every URL is a startup node (the others are found from
    them).

    Each node gets a blocking pool of ``redis.pool_size``, as a single server does: a burst of queries waits
    ``redis.pool_timeout`` for a connection instead of failing (and opening the breaker) at once. (redis-py
    builds the nodes' pools from ``connection_pool_class`` only for a client given a ``url``.)
    """
    first, *others = config.nodes()
    return RedisCluster(
        url=first,
        startup_nodes=[ClusterNode(urlsplit(url).hostname, urlsplit(url).port or 6379) for url in others],
        connection_pool_class=functools.partial(redis.BlockingConnectionPool, timeout=config.pool_timeout),
        max_connections=config.pool_size,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def clock_us(client: Client, key: str) -> int:
    """The clock (``TIME``, µs) of the server holding ``key``: on a cluster, its master, whose clock orders
    the writes to that key."""
    if isinstance(client, ClusterClient):
        seconds, micros = client.time(target_nodes=client.get_node_from_key(key))
    else:
        seconds, micros = client.time()
    return seconds * 1_000_000 + micros


def publish(client: Client, channel: str, body: bytes) -> None:
    """On a cluster, sharded (``SPUBLISH``): only the nodes of the channel's shard carry it, not every node."""
    if isinstance(client, ClusterClient):
        client.spublish(channel, body)
    else:
        client.publish(channel, body)


class Subscription:
    """One channel's messages, sharded (``SSUBSCRIBE``) on a cluster.

    A cluster ends a sharded subscription when its slot moves (a
    reshard) or its node fails: that raises ``redis.ConnectionError``, and
    the listener subscribes again, on the channel's new node.
    """

    def __init__(self, client: Client, channel: str) -> None:
        self._sharded = isinstance(client, ClusterClient)
        self._pubsub = client.pubsub()
        if self._sharded:
            self._pubsub.ssubscribe(channel)
        else:
            self._pubsub.subscribe(channel)

    def get(self, timeout: float) -> bytes | None:
        """The next message's body, or None after ``timeout`` seconds (or for a subscription's own reply)."""
        if self._sharded:
            message = self._pubsub.get_sharded_message(timeout=timeout)
        else:
            message = self._pubsub.get_message(timeout=timeout)
        if message is None:
            return None
        kind = message["type"]
        if kind in ("sunsubscribe", "unsubscribe"):
            raise redis.ConnectionError("the subscription ended (its slot moved or its node failed)")
        return message["data"] if kind in ("message", "smessage") else None

    def ping(self) -> None:
        """A subscription that died silently fails here (a sharded one: each node's connection)."""
        if self._sharded:
            for node in list(self._pubsub.node_pubsub_mapping.values()):
                node.ping()
        else:
            self._pubsub.ping()

    def close(self) -> None:
        self._pubsub.close()


def queue_script(pipe: object, client: Client, command: str, script: str, keys: list[str], args: list[object]) -> None:
    """``EVAL`` (``script`` its text) or ``EVALSHA`` (its SHA1) queued on ``client``'s pipeline (a cluster
    pipeline has neither method). On a cluster it is aimed at the node of its keys (one slot): unaimed,
    redis-py asks a node where a script's keys are (``COMMAND GETKEYS``), a round trip per script. A slot that
    moved meanwhile is followed (MOVED) as for any command."""
    if isinstance(client, ClusterClient):
        target = client.get_node_from_key(keys[0])
        pipe.execute_command(command, script, len(keys), *keys, *args, target_nodes=target)
    else:
        pipe.execute_command(command, script, len(keys), *keys, *args)
