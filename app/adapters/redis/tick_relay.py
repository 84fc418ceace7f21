"""The ``TickRelay`` port on Redis pub/sub: channel ``<p>:stream`` (sharded on a cluster), one message per batch.

A message is JSON ``[run, [[exchange, symbol, price, ts_ms], ...]]``.
Pub/sub keeps nothing: a process that is not subscribed at that moment
misses the batch, which suits a live price stream (the REST API and the
stored minutes are where completeness lives).
"""

from collections.abc import Callable, Sequence

import orjson

from app.adapters.breaker import Breaker
from app.adapters.redis.clients import REDIS_ERRORS, Client, Subscription, publish
from app.adapters.redis.keys import RedisKeys
from app.application.ports.storage import StorageUnavailable
from app.domain.tick import Tick


class RedisTickRelay:
    def __init__(self, client: Client, keys: RedisKeys, retry_after: float) -> None:
        self._client = client
        self._channel = keys.stream()
        self._breaker = Breaker("redis", retry_after, REDIS_ERRORS)

    def send(self, run: str, ticks: Sequence[Tick]) -> None:
        body = orjson.dumps([run, [[t.exchange, t.symbol, t.price, t.ts_ms] for t in ticks]])
        self._breaker.call(lambda: publish(self._client, self._channel, body))

    def listen(self, received: Callable[[str, list[Tick]], None]) -> None:
        pubsub: Subscription | None = None
        try:
            pubsub = Subscription(self._client, self._channel)
            while True:
                data = pubsub.get(timeout=1.0)
                if data is None:
                    continue
                try:
                    run, rows = orjson.loads(data)
                    ticks = [Tick(str(ex), str(sym), float(price), int(ts)) for ex, sym, price, ts in rows]
                except (orjson.JSONDecodeError, TypeError, ValueError):  # not something marketflow sent
                    continue
                received(str(run), ticks)
        except REDIS_ERRORS as exc:
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}: {exc}") from exc
        finally:
            if pubsub is not None:
                pubsub.close()
