"""The ``TickCache`` port on Redis.

Keys (``<p>`` is ``redis.key_prefix``):
- ``<p>:latest:<SYMBOL>``: hash, field = exchange, value = ``<ts_ms>:<price>``;
  a script replaces a value only with a tick at least as new, so batches
  written out of order (or again) never move the latest price backwards.
- ``<p>:ticks:<exchange>:<SYMBOL>``: sorted set, score = trade ts (ms), member =
  ``<price>:<run id>:<seq hex>``: unique per tick, so equal trades are all
  kept, and the same per write, so writing a tick again changes nothing. The
  run id names the writing process, which is how a restarted process finds
  the ticks a crashed one never sealed (``ticks_after``).
  Every write trims members older than the retention and refreshes a TTL,
  so no key outlives its data.
"""

import contextlib
import time
from collections.abc import Sequence

import gevent
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.adapters.breaker import Breaker
from app.application.ports import LatestPrice, SealMark
from app.config.schema import RedisConfig
from app.domain.tick import Tick


def make_client(config: RedisConfig) -> redis.Redis:
    """A client that never blocks for long: pool waits, connects and reads all time out."""
    pool = redis.BlockingConnectionPool.from_url(
        config.url,
        max_connections=config.pool_size,
        timeout=config.pool_timeout,
        socket_timeout=config.socket_timeout,
        socket_connect_timeout=config.socket_timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


_SCAN_PAGE = 10_000

# KEYS: latest hashes; ARGV: field, ts, value per key. Sets each field unless it holds a newer tick.
_SET_IF_NEWER = """
for i, key in ipairs(KEYS) do
  local field, ts, value = ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  local current = redis.call('HGET', key, field)
  if not current or tonumber(string.match(current, '^%d+')) <= ts then
    redis.call('HSET', key, field, value)
  end
end
"""


def _prices(reply: list[tuple[bytes, float]]) -> list[tuple[int, float]]:
    """``(ts_ms, price)`` per member; one marketflow did not write is left out, not fatal."""
    prices = []
    for member, score in reply:
        try:
            prices.append((int(score), float(member.split(b":", 1)[0])))
        except ValueError:
            continue
    return prices


class RedisTickCache:
    def __init__(self, client: redis.Redis, prefix: str, retention_ms: int, retry_after: float, run: str) -> None:
        self._client = client
        self._prefix = prefix
        self._retention_ms = retention_ms
        self._breaker = Breaker("redis", retry_after, (redis.RedisError, OSError))
        self._run = run

    def _ticks_key(self, exchange: str, symbol: str) -> str:
        return f"{self._prefix}:ticks:{exchange}:{symbol}"

    def _latest_key(self, symbol: str) -> str:
        return f"{self._prefix}:latest:{symbol}"

    def write(self, ticks: Sequence[Tick]) -> None:
        groups: dict[tuple[str, str], dict[str, int]] = {}
        newest: dict[tuple[str, str], Tick] = {}
        run = self._run
        for tick in ticks:
            key = (tick.exchange, tick.symbol)
            members = groups.get(key)
            if members is None:
                members = groups[key] = {}
            members[f"{tick.price!r}:{run}:{tick.seq:x}"] = tick.ts_ms
            best = newest.get(key)
            if best is None or tick.ts_ms >= best.ts_ms:
                newest[key] = tick
        cutoff = int(time.time() * 1000) - self._retention_ms
        ttl_ms = self._retention_ms + 60_000

        def send() -> None:
            pipe = self._client.pipeline(transaction=False)
            for (exchange, symbol), members in groups.items():
                key = self._ticks_key(exchange, symbol)
                pipe.zadd(key, members)
                pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
                pipe.pexpire(key, ttl_ms)
            args: list[object] = []
            for tick in newest.values():
                args.extend((tick.exchange, tick.ts_ms, f"{tick.ts_ms}:{tick.price!r}"))
            keys = [self._latest_key(tick.symbol) for tick in newest.values()]
            # EVAL inline: a registered script would cost a SCRIPT EXISTS round trip on every execute.
            pipe.eval(_SET_IF_NEWER, len(keys), *keys, *args)
            pipe.execute()

        self._breaker.call(send)

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]:
        values = self._breaker.call(lambda: self._client.hmget(self._latest_key(symbol), list(exchanges)))
        found = []
        for exchange, value in zip(exchanges, values, strict=True):
            if value is not None:
                with contextlib.suppress(ValueError):  # a value marketflow did not write
                    ts, price = value.split(b":", 1)
                    found.append(LatestPrice(exchange, float(price), int(ts)))
        return found

    def ticks(
        self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int
    ) -> dict[str, list[tuple[int, float]]]:
        def fetch() -> list:
            pipe = self._client.pipeline(transaction=False)
            for exchange in exchanges:
                pipe.zrangebyscore(self._ticks_key(exchange, symbol), f"({after_ms}", to_ms, withscores=True)
            return pipe.execute()

        replies = self._breaker.call(fetch)
        return {exchange: _prices(reply) for exchange, reply in zip(exchanges, replies, strict=True)}

    def ticks_after(self, mark: SealMark) -> list[Tick]:
        return self._breaker.call(lambda: self._scan_for(mark))

    def _scan_for(self, mark: SealMark) -> list[Tick]:
        """Every retained member of every tick key: a one-off after a crash.

        Members are read without scores (parsing scores is most of the cost);
        only the members found then have their scores (trade times) fetched.
        """
        key_start = len(self._prefix) + len(":ticks:")
        found = []
        for key in self._client.scan_iter(match=f"{self._prefix}:ticks:*", count=500):
            exchange, symbol = key[key_start:].decode().rsplit(":", 1)
            unsealed = self._unsealed_members(key, mark)
            members = list(unsealed)
            for first in range(0, len(members), _SCAN_PAGE):
                chunk = members[first : first + _SCAN_PAGE]
                for member, score in zip(chunk, self._client.zmscore(key, chunk), strict=True):
                    if score is not None:  # trimmed meanwhile: too old to matter
                        price, seq = unsealed[member]
                        found.append(Tick(exchange, symbol, price, int(score), seq))
        return found

    def _unsealed_members(self, key: bytes, mark: SealMark) -> dict[bytes, tuple[float, int]]:
        """``(price, seq)`` of the key's members from ``mark.run`` past ``mark.seq``.

        Newest first by rank: the live process meanwhile trims the oldest and
        adds new ones, which can show a member twice (the dict keeps one) but
        never hide one.
        """
        tag = b":" + mark.run.encode() + b":"
        unsealed: dict[bytes, tuple[float, int]] = {}
        start = 0
        while page := self._client.zrange(key, start, start + _SCAN_PAGE - 1, desc=True):
            start += len(page)
            for member in page:
                if tag not in member:
                    continue
                try:
                    price, seq_hex = member.split(tag)
                    seq = int(seq_hex, 16)
                except ValueError:  # not a member we wrote: skip it
                    continue
                if seq > mark.seq:
                    unsealed[member] = (float(price), seq)
            gevent.sleep(0)
        return unsealed

    def ping(self) -> float:
        started = time.perf_counter()
        self._breaker.call(self._client.ping)
        return time.perf_counter() - started
