"""The ``TickRelay`` port on Redis pub/sub: channel ``<p>:stream``, one message per batch.

A message is JSON ``[run, [[exchange, symbol, price, ts_ms], ...]]``.
Pub/sub keeps nothing: a process that is not subscribed at that moment
misses the batch, which suits a live price stream (the REST API and the
stored minutes are where completeness lives).
"""

from collections.abc import Callable, Sequence

import orjson
import redis

from app.adapters.breaker import Breaker
from app.application.ports.storage import StorageUnavailable
from app.domain.tick import Tick


class RedisTickRelay:
    def __init__(self, client: redis.Redis, prefix: str, retry_after: float) -> None:
        self._client = client
        self._channel = f"{prefix}:stream"
        self._breaker = Breaker("redis", retry_after, (redis.RedisError, OSError))

    def send(self, run: str, ticks: Sequence[Tick]) -> None:
        body = orjson.dumps([run, [[t.exchange, t.symbol, t.price, t.ts_ms] for t in ticks]])
        self._breaker.call(lambda: self._client.publish(self._channel, body))

    def listen(self, received: Callable[[str, list[Tick]], None]) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self._channel)
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is None or message["type"] != "message":
                    continue
                try:
                    run, rows = orjson.loads(message["data"])
                    ticks = [Tick(str(ex), str(sym), float(price), int(ts)) for ex, sym, price, ts in rows]
                except (orjson.JSONDecodeError, TypeError, ValueError):  # not something marketflow sent
                    continue
                received(str(run), ticks)
        except (redis.RedisError, OSError) as exc:
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}: {exc}") from exc
        finally:
            pubsub.close()
