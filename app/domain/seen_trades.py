"""Recognising a trade seen before, in bounded memory.

The same trade can arrive twice: a snapshot replayed on subscribe, two
connections overlapping during a planned reconnect, a REST backfill that
overlaps the stream. Each (exchange, symbol) remembers the ids of its last
``capacity`` trades, forgetting the oldest first (a set for the lookup, a
queue for the order), so memory is bounded by the number of pairs times
``capacity`` whatever the rate, and every check is O(1). A repeat older than
the last ``capacity`` trades of its pair is not recognised: at the default
that is far longer than any overlap or backfill window.
"""

from collections import deque

# Ids remembered per (exchange, symbol): minutes of the busiest pair's trades, a few MB at most per pair.
DEFAULT_CAPACITY = 20_000


class _Recent:
    __slots__ = ("ids", "order")

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.order: deque[str] = deque()


class SeenTrades:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._pairs: dict[tuple[str, str], _Recent] = {}

    def first_time(self, exchange: str, symbol: str, trade_id: str) -> bool:
        """Remember ``trade_id``; False when it was already remembered (a duplicate)."""
        recent = self._pairs.get((exchange, symbol))
        if recent is None:
            recent = self._pairs[(exchange, symbol)] = _Recent()
        ids = recent.ids
        if trade_id in ids:
            return False
        ids.add(trade_id)
        order = recent.order
        order.append(trade_id)
        if len(order) > self._capacity:
            ids.discard(order.popleft())
        return True
