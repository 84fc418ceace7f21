"""Running count, mean, extremes, first and last price, mergeable across sources.

One type serves a query window (several exchanges), a one-second bucket, a
minute bucket in the aggregator, and a stored minute or rollup row, so that
answering a window is a plain sequence of ``merge`` calls whatever the
pieces came from.
"""


class PriceStats:
    """Count, sum, both extremes (with where and when each happened), first and last price.

    Ties between equal extreme prices go to the more recent tick (and at the
    same millisecond to the exchange named last), so the answer does not
    depend on the order in which sources were merged.
    ``first`` is the earliest tick by trade time and ``last`` the latest; on
    equal times the one added first stays first and the one added last
    becomes last, which is arrival order when ticks are added as they come.
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
        "total",
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

    def add(self, exchange: str, price: float, ts_ms: int) -> None:
        if not self.count:
            self.first, self.first_ts = price, ts_ms
            self.last, self.last_ts = price, ts_ms
        elif ts_ms < self.first_ts:
            self.first, self.first_ts = price, ts_ms
        elif ts_ms >= self.last_ts:
            self.last, self.last_ts = price, ts_ms
        self.count += 1
        self.total += price
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
