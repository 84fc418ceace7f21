"""The ``ControlChannel`` port on Redis.

``<p>:control`` holds the JSON state; the pub/sub channel of the same name
tells every process to read it again (sharded pub/sub on a cluster, on the
node that holds the key). A listener also pings its subscription and rereads the state every ``RESYNC_SECONDS``, so a
subscription that died silently, or a message lost while reconnecting,
delays a change by seconds, never forever.
"""

import time
from collections.abc import Callable

import orjson

from app.adapters.breaker import Breaker
from app.adapters.redis.clients import REDIS_ERRORS, Client, Subscription, publish
from app.adapters.redis.keys import RedisKeys
from app.application.ports.storage import StorageUnavailable

RESYNC_SECONDS = 5.0


class RedisControlChannel:
    def __init__(self, client: Client, keys: RedisKeys, retry_after: float) -> None:
        self._client = client
        self._key = keys.control()
        self._breaker = Breaker("redis", retry_after, REDIS_ERRORS)

    def load(self) -> dict[str, object] | None:
        value = self._breaker.call(lambda: self._client.get(self._key))
        if value is None:
            return None
        try:
            state = orjson.loads(value)
        except orjson.JSONDecodeError:  # not something marketflow wrote
            return None
        return state if isinstance(state, dict) else None

    def publish(self, state: dict[str, object]) -> None:
        body = orjson.dumps(state)

        def send() -> None:
            self._client.set(self._key, body)
            publish(self._client, self._key, b"changed")

        self._breaker.call(send)

    def listen(self, changed: Callable[[], None]) -> None:
        pubsub: Subscription | None = None
        try:
            pubsub = Subscription(self._client, self._key)
            changed()  # whatever changed while this process was not subscribed
            resync = time.monotonic() + RESYNC_SECONDS
            while True:
                if pubsub.get(timeout=0.2) is not None:
                    changed()
                if time.monotonic() >= resync:
                    pubsub.ping()
                    changed()
                    resync = time.monotonic() + RESYNC_SECONDS
        except REDIS_ERRORS as exc:
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}: {exc}") from exc
        finally:
            if pubsub is not None:
                pubsub.close()
