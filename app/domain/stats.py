"""Running count, mean, extremes, first and last price, volume and VWAP, mergeable across sources.

One type serves a query window (several exchanges), a one-second bucket, a
minute bucket in the aggregator, and a stored minute or rollup row, so that
answering a window is a plain sequence of ``merge`` calls whatever the
pieces came from.
"""

from typing import TypeVar

K = TypeVar("K")


class PriceStats:
    """Count, sum, both extremes (with where and when each happened), first and last price.

    Ties between equal extreme prices go to the more recent tick (and at the
    same millisecond to the exchange named last), so the answer does not
    depend on the order in which sources were merged.
    ``first`` is the earliest tick by trade time and ``last`` the latest; on
    equal times the one added first stays first and the one added last
    becomes last, which is arrival order when ticks are added as they come.
    ``volume`` is the sum of the quantities of the ticks that carry one
    (None while none did) and ``notional`` the sum of price x quantity over
    the same ticks, so ``vwap`` covers exactly the trades with a quantity.
    """

    __slots__ = (
        "count",
        "first",
        "first_ts",
        "high",
        "high_exchange",
        "high_ts",
        "last",
        "last_ts",
        "low",
        "low_exchange",
        "low_ts",
        "notional",
        "total",
        "volume",
    )

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = float("inf")
        self.low_ts = 0
        self.low_exchange = ""
        self.high = float("-inf")
        self.high_ts = 0
        self.high_exchange = ""
        self.first = 0.0
        self.first_ts = 0
        self.last = 0.0
        self.last_ts = 0
        self.volume: float | None = None
        self.notional = 0.0

    def add(self, exchange: str, price: float, ts_ms: int, quantity: float | None = None) -> None:
        if not self.count:
            self.first, self.first_ts = price, ts_ms
            self.last, self.last_ts = price, ts_ms
        elif ts_ms < self.first_ts:
            self.first, self.first_ts = price, ts_ms
        elif ts_ms >= self.last_ts:
            self.last, self.last_ts = price, ts_ms
        self.count += 1
        self.total += price
        if quantity is not None:
            self.volume = quantity if self.volume is None else self.volume + quantity
            self.notional += price * quantity
        if price < self.low or (price == self.low and (ts_ms, exchange) > (self.low_ts, self.low_exchange)):
            self.low, self.low_ts, self.low_exchange = price, ts_ms, exchange
        if price > self.high or (price == self.high and (ts_ms, exchange) > (self.high_ts, self.high_exchange)):
            self.high, self.high_ts, self.high_exchange = price, ts_ms, exchange

    def merge(self, other: "PriceStats") -> None:
        if not other.count:
            return
        if not self.count or other.first_ts < self.first_ts:
            self.first, self.first_ts = other.first, other.first_ts
        if not self.count or other.last_ts >= self.last_ts:
            self.last, self.last_ts = other.last, other.last_ts
        self.count += other.count
        self.total += other.total
        if other.volume is not None:
            self.volume = other.volume if self.volume is None else self.volume + other.volume
            self.notional += other.notional
        if other.low < self.low or (
            other.low == self.low and (other.low_ts, other.low_exchange) > (self.low_ts, self.low_exchange)
        ):
            self.low, self.low_ts, self.low_exchange = other.low, other.low_ts, other.low_exchange
        if other.high > self.high or (
            other.high == self.high and (other.high_ts, other.high_exchange) > (self.high_ts, self.high_exchange)
        ):
            self.high, self.high_ts, self.high_exchange = other.high, other.high_ts, other.high_exchange

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def vwap(self) -> float | None:
        """Volume-weighted average price of the ticks with a quantity; None without volume."""
        return self.notional / self.volume if self.volume else None


def merge_at(table: dict[K, PriceStats], key: K, part: PriceStats) -> None:
    """Merge ``part`` into ``table[key]``, starting it empty: how pieces are grouped into buckets and candles."""
    target = table.get(key)
    if target is None:
        target = table[key] = PriceStats()
    target.merge(part)
