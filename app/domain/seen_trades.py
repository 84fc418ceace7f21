"""Recognising a trade seen before, in bounded memory.

The same trade can arrive twice: a snapshot replayed on subscribe, two
connections overlapping during a planned reconnect, a REST backfill that
overlaps the stream. Each (exchange, symbol) remembers the ids of its
trades of the last ``horizon_ms`` (by trade time, up to ``capacity`` of
them), forgetting the oldest first (a set for the lookup, a queue for the
order), so every check is O(1) and memory follows the market's rate, not
its width: at thousands of pairs, a count per pair alone would keep
thousands of ids of every pair that ever traded (gigabytes after a day). A
repeat older than that is not recognised: overlaps last seconds, and a
backfill's span holds only what the stream missed (its two ends are left
out by the backfill itself).
"""

from collections import deque

from app.domain.time_grid import MS_PER_MINUTE

# A minute of each pair's trades, and at most this many (the busiest pairs trade a few hundred a second).
DEFAULT_HORIZON_MS = MS_PER_MINUTE
DEFAULT_CAPACITY = 20_000


class _Recent:
    __slots__ = ("ids", "order")

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.order: deque[tuple[int, str]] = deque()


class SeenTrades:
    def __init__(self, horizon_ms: int = DEFAULT_HORIZON_MS, capacity: int = DEFAULT_CAPACITY) -> None:
        self._horizon_ms = horizon_ms
        self._capacity = capacity
        self._pairs: dict[tuple[str, str], _Recent] = {}

    def first_time(self, exchange: str, symbol: str, trade_id: str, ts_ms: int) -> bool:
        """Remember ``trade_id`` (a trade at ``ts_ms``); False when it was already remembered (a duplicate)."""
        recent = self._pairs.get((exchange, symbol))
        if recent is None:
            recent = self._pairs[(exchange, symbol)] = _Recent()
        ids = recent.ids
        if trade_id in ids:
            return False
        ids.add(trade_id)
        order = recent.order
        order.append((ts_ms, trade_id))
        oldest = ts_ms - self._horizon_ms
        while len(order) > self._capacity or order[0][0] < oldest:
            ids.discard(order.popleft()[1])
        return True
