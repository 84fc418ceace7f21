"""Running min/mean/max over a set of prices, mergeable across sources.

One type serves a query window (raw ticks, several exchanges), a minute
bucket in the aggregator, and a stored minute row, so that merging raw ticks
with stored minutes is a plain ``merge``.
"""


class PriceStats:
    """Count, sum and both extremes, with where and when each extreme happened.

    Ties between equal extreme prices go to the more recent tick, so the
    answer does not depend on the order in which sources were merged.
    """

    __slots__ = ("count", "high", "high_exchange", "high_ts", "low", "low_exchange", "low_ts", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = float("inf")
        self.low_ts = 0
        self.low_exchange = ""
        self.high = float("-inf")
        self.high_ts = 0
        self.high_exchange = ""

    def add(self, exchange: str, price: float, ts_ms: int) -> None:
        self.count += 1
        self.total += price
        if price < self.low or (price == self.low and ts_ms > self.low_ts):
            self.low, self.low_ts, self.low_exchange = price, ts_ms, exchange
        if price > self.high or (price == self.high and ts_ms > self.high_ts):
            self.high, self.high_ts, self.high_exchange = price, ts_ms, exchange

    def merge(self, other: "PriceStats") -> None:
        if not other.count:
            return
        self.count += other.count
        self.total += other.total
        if other.low < self.low or (other.low == self.low and other.low_ts > self.low_ts):
            self.low, self.low_ts, self.low_exchange = other.low, other.low_ts, other.low_exchange
        if other.high > self.high or (other.high == self.high and other.high_ts > self.high_ts):
            self.high, self.high_ts, self.high_exchange = other.high, other.high_ts, other.high_exchange

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0
