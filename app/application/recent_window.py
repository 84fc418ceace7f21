"""The in-process copy of the recent window: one aggregate per second, and raw ticks.

It is the source of the absolute per-second buckets the cache writer sends
to Redis (a bucket is always written whole, so writing it again after an
outage or a replay never double counts), the copy written back when Redis
lost its data, and the fallback that answers queries while Redis does not.

Per (exchange, symbol) it keeps every second of the retention (at most
``retention / 1 s`` buckets) and at most ``max_ticks`` raw ticks: past that
the oldest seconds lose their raw ticks but keep their exact aggregate, so
only a window edge that cuts through such a second is inexact, and says so.
"""

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from app.application.ports import CacheBatch, LatestPrice, SecondBucket, WindowRead
from app.domain.stats import PriceStats
from app.domain.tick import Tick
from app.domain.window import MS_PER_SECOND, Cover, cover, second_start

RAW_CAPPED = "the in-process window keeps at most {max_ticks} raw ticks per exchange and symbol"


class _Second:
    __slots__ = ("stats", "ticks")

    def __init__(self) -> None:
        self.stats = PriceStats()
        # (ts_ms, price, seq) in arrival order; None once dropped to keep within max_ticks.
        self.ticks: list[tuple[int, float, int]] | None = []


class _Series:
    """One (exchange, symbol)."""

    __slots__ = ("by_second", "created", "newest", "raw_count", "with_raw")

    def __init__(self) -> None:
        self.by_second: dict[int, _Second] = {}
        self.newest = 0  # the latest second held: with the retention, it bounds every scan
        self.created: deque[int] = deque()  # seconds in creation order, to age them out
        self.with_raw: deque[int] = deque()  # seconds that may still hold raw ticks, oldest first
        self.raw_count = 0


class RecentWindow:
    """Answers the cache's read side in memory; it never fails."""

    def __init__(self, retention_ms: int, max_ticks: int, clock: Callable[[], float] = time.time) -> None:
        self._retention_ms = retention_ms
        self._max_ticks = max_ticks
        self._clock = clock
        self._series: dict[tuple[str, str], _Series] = {}
        self._latest: dict[tuple[str, str], LatestPrice] = {}
        # Nothing older can be here: a query reaching further back from memory is partial.
        self.since_ms = int(clock() * 1000)

    def write(self, ticks: Sequence[Tick]) -> None:
        horizon = int(self._clock() * 1000) - self._retention_ms
        touched: set[_Series] = set()
        for tick in ticks:
            key = (tick.exchange, tick.symbol)
            latest = self._latest.get(key)
            if latest is None or tick.ts_ms >= latest.ts_ms:
                self._latest[key] = LatestPrice(tick.exchange, tick.price, tick.ts_ms)
            if tick.ts_ms <= horizon:
                continue  # too old for any window we answer from here; the minute aggregator still counts it
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            second = tick.ts_ms - tick.ts_ms % MS_PER_SECOND
            slot = series.by_second.get(second)
            if slot is None:
                slot = series.by_second[second] = _Second()
                series.newest = max(series.newest, second)
                series.created.append(second)
                series.with_raw.append(second)
            slot.stats.add(tick.exchange, tick.price, tick.ts_ms)
            if slot.ticks is not None:
                slot.ticks.append((tick.ts_ms, tick.price, tick.seq))
                series.raw_count += 1
            touched.add(series)
        for series in touched:
            self._trim(series, horizon)

    def _trim(self, series: _Series, horizon: int) -> None:
        by_second = series.by_second
        while series.created and series.created[0] + MS_PER_SECOND - 1 <= horizon:
            slot = by_second.pop(series.created.popleft())
            if slot.ticks is not None:
                series.raw_count -= len(slot.ticks)
        while series.raw_count > self._max_ticks and series.with_raw:
            slot = by_second.get(series.with_raw.popleft())
            if slot is not None and slot.ticks is not None:
                series.raw_count -= len(slot.ticks)
                slot.ticks = None

    def buckets_for(self, ticks: Sequence[Tick]) -> list[SecondBucket]:
        """The current absolute bucket of every second these ticks fall in (each once)."""
        seen: set[tuple[str, str, int]] = set()
        buckets = []
        for tick in ticks:
            key = (tick.exchange, tick.symbol, tick.ts_ms - tick.ts_ms % MS_PER_SECOND)
            if key in seen:
                continue
            seen.add(key)
            series = self._series.get(key[:2])
            slot = series.by_second.get(key[2]) if series else None
            if slot is not None:
                buckets.append(SecondBucket(tick.exchange, tick.symbol, key[2], slot.stats, slot.ticks is not None))
        return buckets

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]:
        found = (self._latest.get((exchange, symbol)) for exchange in exchanges)
        return [price for price in found if price is not None]

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        """Per exchange, the stats of ticks with ``after_ms < ts <= to_ms``, from whole seconds and edge ticks."""
        read = WindowRead({})
        oldest = second_start(int(self._clock() * 1000) - self._retention_ms)
        for exchange in exchanges:
            stats = read.stats[exchange] = PriceStats()
            series = self._series.get((exchange, symbol))
            if series is None:
                continue
            by_second = series.by_second
            last = min(to_ms, series.newest)
            for second in range(max(second_start(after_ms + 1), oldest), last + 1, MS_PER_SECOND):
                slot = by_second.get(second)
                if slot is None:
                    continue
                part = cover(slot.stats.first_ts, slot.stats.last_ts, after_ms, to_ms)
                if part is Cover.WHOLE:
                    stats.merge(slot.stats)
                elif part is Cover.SPLIT:
                    if slot.ticks is None:
                        read.partial = RAW_CAPPED.format(max_ticks=self._max_ticks)
                        continue
                    for ts, price, _ in slot.ticks:
                        if after_ms < ts <= to_ms:
                            stats.add(exchange, price, ts)
        return read

    def snapshot(self, batch_ticks: int) -> Iterator[CacheBatch]:
        """Everything held, as cache batches of about ``batch_ticks`` ticks: to write back a cache that lost it."""
        ticks: list[Tick] = []
        buckets: list[SecondBucket] = []
        for (exchange, symbol), series in list(self._series.items()):
            for second, slot in list(series.by_second.items()):
                buckets.append(SecondBucket(exchange, symbol, second, slot.stats, slot.ticks is not None))
                ticks.extend(Tick(exchange, symbol, price, ts, seq) for ts, price, seq in slot.ticks or ())
                if len(ticks) + len(buckets) >= batch_ticks:
                    yield CacheBatch(ticks, buckets)
                    ticks, buckets = [], []
        if ticks or buckets:
            yield CacheBatch(ticks, buckets)
