"""The ``PairRegistry`` port on Redis: where every followed pair stands, for ``/symbols`` in any process.

Keys (``<p>`` is ``redis.key_prefix``; no command reads two of them, so none needs a hash tag on a cluster):
- ``<p>:pairs:<exchange>``: hash, field = symbol, value = ``<state>|<since ms>|<detail>``,
  written by the process reading the pair's feed whenever the state changes;
- ``<p>:pair_ticks:<exchange>``: hash, field = symbol, the trades counted over every owner the
  pair had (``HINCRBY`` of each publication's count), and ``<p>:pair_last:<exchange>`` the
  latest trade's time (ms);
- ``<p>:pairs_version``: counts state publications, so a reader reloads the states only after one;
  ``<p>:pair_exchanges``: a set of the exchanges published, so they are found without a scan.
Bounded by the pairs ever followed (a delisted pair stays, as its stored minutes do).
"""

from collections.abc import Mapping, Sequence

from app.adapters.breaker import Breaker
from app.adapters.redis.clients import REDIS_ERRORS, Client, queue_script
from app.adapters.redis.keys import RedisKeys
from app.adapters.redis.lua import ADD_COUNTS
from app.domain.pair_state import PAIR_STATES, PairActivity, PairState


class RedisPairRegistry:
    def __init__(self, client: Client, keys: RedisKeys, retry_after: float) -> None:
        self._client = client
        self._keys = keys
        self._breaker = Breaker("redis", retry_after, REDIS_ERRORS)

    def _key(self, kind: str, exchange: str) -> str:
        return self._keys.pairs(kind, exchange)

    def publish(self, exchange: str, states: Mapping[str, PairState], activity: Mapping[str, PairActivity]) -> None:
        if not states and not activity:
            return

        def send() -> None:
            pipe = self._client.pipeline(transaction=False)
            if states:
                values = {symbol: f"{s.state}|{s.since_ms}|{s.detail}" for symbol, s in states.items()}
                pipe.hset(self._key("pairs", exchange), mapping=values)
                pipe.sadd(self._keys.pair_exchanges(), exchange)
                pipe.incr(self._keys.pairs_version())
            if activity:  # thousands of pairs every cycle at market width: one script, not a command each
                counts: list[object] = []
                for symbol, seen in activity.items():
                    counts.extend((symbol, seen.ticks))
                queue_script(pipe, self._client, "EVAL", ADD_COUNTS, [self._key("pair_ticks", exchange)], counts)
            last = {symbol: seen.last_ms for symbol, seen in activity.items() if seen.last_ms is not None}
            if last:
                pipe.hset(self._key("pair_last", exchange), mapping=last)
            pipe.execute()

        self._breaker.call(send)

    def version(self) -> int:
        return int(self._breaker.call(lambda: self._client.get(self._keys.pairs_version())) or 0)

    def states(self) -> dict[str, dict[str, PairState]]:
        def fetch() -> dict[str, dict[str, PairState]]:
            published = self._client.smembers(self._keys.pair_exchanges())
            exchanges = sorted(exchange.decode(errors="replace") for exchange in published)
            pipe = self._client.pipeline(transaction=False)
            for exchange in exchanges:
                pipe.hgetall(self._key("pairs", exchange))
            return {
                exchange: {
                    symbol.decode(errors="replace"): state
                    for symbol, value in stored.items()
                    if (state := _state(value)) is not None
                }
                for exchange, stored in zip(exchanges, pipe.execute(), strict=True)
            }

        return self._breaker.call(fetch)

    def activity(self, exchange: str, symbols: Sequence[str]) -> dict[str, PairActivity]:
        if not symbols:
            return {}

        def fetch() -> list:
            pipe = self._client.pipeline(transaction=False)
            pipe.hmget(self._key("pair_ticks", exchange), list(symbols))
            pipe.hmget(self._key("pair_last", exchange), list(symbols))
            return pipe.execute()

        ticks, last = self._breaker.call(fetch)
        return {
            symbol: PairActivity(_int(n) or 0, _int(ms)) for symbol, n, ms in zip(symbols, ticks, last, strict=True)
        }


def _state(value: bytes) -> PairState | None:
    """A stored state; None for a value marketflow did not write."""
    try:
        state, since, detail = value.decode(errors="replace").split("|", 2)
        return PairState(state, int(since), detail) if state in PAIR_STATES else None
    except ValueError:
        return None


def _int(value: bytes | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None
