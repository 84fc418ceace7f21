"""The ``GapBook`` port on Redis: the trade gaps every process's answers must know of.

A gap is found by the one process reading its feed (after backfill), but a
query may land on any worker of any host, and an answer that reaches into
the gap must say it is partial wherever it is asked. ``<p>:gaps:{<exchange>:
<SYMBOL>}`` is a sorted set per pair (tagged as the pair's other keys): score = the gap's end (ms), member =
``<from>:<to>:<lost>`` (``lost`` empty when the ids can't tell). Each pair
keeps its newest ``KEPT`` gaps for ``KEEP_SECONDS`` after the last one; the
stored minutes a gap touched say so for good (``complete = false``).
"""

from collections.abc import Sequence

from app.adapters.breaker import Breaker
from app.adapters.redis.clients import REDIS_ERRORS, Client
from app.adapters.redis.keys import RedisKeys
from app.application.trade_gaps import MAX_GAPS_KEPT
from app.domain.missed_trades import TradeGap
from app.domain.time_grid import SECONDS_PER_DAY

# As many as a process keeps of a feed's own, for a week past the newest.
KEPT = MAX_GAPS_KEPT
KEEP_SECONDS = 7 * SECONDS_PER_DAY


class RedisGapBook:
    def __init__(self, client: Client, keys: RedisKeys, retry_after: float) -> None:
        self._client = client
        self._keys = keys
        self._breaker = Breaker("redis", retry_after, REDIS_ERRORS)

    def _key(self, exchange: str, symbol: str) -> str:
        return self._keys.gaps(exchange, symbol)

    def add(self, gap: TradeGap) -> None:
        key = self._key(gap.exchange, gap.symbol)
        member = f"{gap.from_ms}:{gap.to_ms}:{'' if gap.lost is None else gap.lost}"

        def write() -> None:
            pipe = self._client.pipeline(transaction=False)
            pipe.zadd(key, {member: gap.to_ms})
            pipe.zremrangebyrank(key, 0, -KEPT - 1)
            pipe.expire(key, KEEP_SECONDS)
            pipe.execute()

        self._breaker.call(write)

    def overlapping(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> list[TradeGap]:
        if not exchanges:
            return []

        def fetch() -> list[list[bytes]]:
            pipe = self._client.pipeline(transaction=False)
            for exchange in exchanges:
                pipe.zrangebyscore(self._key(exchange, symbol), f"({from_ms}", "+inf")
            return pipe.execute()

        found = []
        for exchange, members in zip(exchanges, self._breaker.call(fetch), strict=True):
            for member in members:
                gap = _gap(exchange, symbol, member)
                if gap is not None and gap.overlaps(from_ms, to_ms):
                    found.append(gap)
        return found


def _gap(exchange: str, symbol: str, member: bytes) -> TradeGap | None:
    try:
        first, last, lost = member.decode().split(":")
        return TradeGap(exchange, symbol, int(first), int(last), int(lost) if lost else None)
    except (UnicodeDecodeError, ValueError):  # not something marketflow wrote
        return None
