"""The in-process copy of the recent window: aggregates per minute, second and tenth, and raw ticks.

It is the source of the absolute buckets the cache writer sends to Redis (a
bucket is always written whole, so writing it again after an outage or a
replay never double counts), the copy written back when Redis lost its
data, and the fallback that answers queries while Redis does not.

Per (exchange, symbol) it keeps every bucket of the retention (at most
``retention / 100 ms`` of the finest grain) and at most ``max_ticks`` raw
ticks: past that the oldest tenths lose their raw ticks but keep their
exact aggregate, so only a window edge that cuts through such a tenth is
inexact, and says so.
"""

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from app.domain.buckets import Bucket, CacheBatch
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.stats import PriceStats, merge_at
from app.domain.tick import Tick
from app.domain.time_grid import ceil_to, floor_to, seconds_to_ms
from app.domain.window import GRAINS, Cover, cover, split_window

RAW_CAPPED = "the in-process window keeps at most {max_ticks} raw ticks per exchange and symbol"
FINEST = GRAINS[-1]
COARSER = GRAINS[:-1]


class _Slot:
    """A bucket of the finest grain, with its raw ticks."""

    __slots__ = ("stats", "ticks")

    def __init__(self) -> None:
        self.stats = PriceStats()
        # (ts_ms, price, seq, quantity, lease) in arrival order; None once dropped to keep within max_ticks.
        self.ticks: list[tuple[int, float, int, float | None, int]] | None = []


class _Series:
    """One (exchange, symbol)."""

    __slots__ = ("coarse", "coarse_created", "created", "newest", "raw_count", "slots", "with_raw")

    def __init__(self) -> None:
        self.slots: dict[int, _Slot] = {}
        self.coarse: dict[int, dict[int, PriceStats]] = {grain: {} for grain in COARSER}
        self.created: deque[int] = deque()  # slots in creation order, to age them out
        self.coarse_created: dict[int, deque[int]] = {grain: deque() for grain in COARSER}
        self.with_raw: deque[int] = deque()  # slots that may still hold raw ticks, oldest first
        self.raw_count = 0
        self.newest = 0  # the latest slot held: with the retention, it bounds every scan


class RecentWindow:
    """Answers the cache's read side in memory; it never fails."""

    def __init__(self, retention_ms: int, max_ticks: int, clock: Callable[[], float] = time.time) -> None:
        self._retention_ms = retention_ms
        self._max_ticks = max_ticks
        self._clock = clock
        self._series: dict[tuple[str, str], _Series] = {}
        self._latest: dict[tuple[str, str], LatestPrice] = {}
        # Nothing older can be here: a query reaching further back from memory is partial.
        self.since_ms = seconds_to_ms(clock())

    def write(self, ticks: Sequence[Tick]) -> None:
        horizon = seconds_to_ms(self._clock()) - self._retention_ms
        touched: set[_Series] = set()
        for tick in ticks:
            key = (tick.exchange, tick.symbol)
            latest = self._latest.get(key)
            if latest is None or tick.ts_ms >= latest.ts_ms:
                self._latest[key] = LatestPrice(tick.exchange, tick.price, tick.ts_ms)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            if tick.ts_ms <= horizon:
                # Too old for any window inside the retention, but the minute holding the retention's edge is
                # counted whole from its bucket (windows, candles): a late tick of it must still be in it.
                self._add_late(series, tick, horizon)
                continue
            self._add(series, tick)
            touched.add(series)
        for series in touched:
            self._trim(series, horizon)

    @staticmethod
    def _add(series: _Series, tick: Tick) -> None:
        ts = tick.ts_ms
        start = floor_to(ts, FINEST)
        slot = series.slots.get(start)
        if slot is None:
            slot = series.slots[start] = _Slot()
            series.newest = max(series.newest, start)
            series.created.append(start)
            series.with_raw.append(start)
        slot.stats.add(tick.exchange, tick.price, ts, tick.quantity)
        if slot.ticks is not None:
            slot.ticks.append((ts, tick.price, tick.seq, tick.quantity, tick.lease))
            series.raw_count += 1
        for grain in COARSER:
            RecentWindow._add_coarse(series, grain, tick)

    @staticmethod
    def _add_late(series: _Series, tick: Tick, horizon: int) -> None:
        """Count a tick older than the horizon in the coarser buckets still held (at most its minute's)."""
        for grain in COARSER:
            if floor_to(tick.ts_ms, grain) + grain - 1 > horizon:
                RecentWindow._add_coarse(series, grain, tick)

    @staticmethod
    def _add_coarse(series: _Series, grain: int, tick: Tick) -> None:
        ts = tick.ts_ms
        start = floor_to(ts, grain)
        table = series.coarse[grain]
        stats = table.get(start)
        if stats is None:
            stats = table[start] = PriceStats()
            series.coarse_created[grain].append(start)
        stats.add(tick.exchange, tick.price, ts, tick.quantity)

    def _trim(self, series: _Series, horizon: int) -> None:
        slots = series.slots
        while series.created and series.created[0] + FINEST - 1 <= horizon:
            slot = slots.pop(series.created.popleft())
            if slot.ticks is not None:
                series.raw_count -= len(slot.ticks)
        for grain, created in series.coarse_created.items():
            while created and created[0] + grain - 1 <= horizon:
                del series.coarse[grain][created.popleft()]
        while series.raw_count > self._max_ticks and series.with_raw:
            slot = slots.get(series.with_raw.popleft())
            if slot is not None and slot.ticks is not None:
                series.raw_count -= len(slot.ticks)
                slot.ticks = None

    def buckets_for(self, ticks: Sequence[Tick]) -> list[Bucket]:
        """The current absolute bucket of every grain these ticks fall in (each once)."""
        seen: set[tuple[str, str, int, int]] = set()
        buckets = []
        for tick in ticks:
            series = self._series.get((tick.exchange, tick.symbol))
            if series is None:
                continue
            for grain in GRAINS:
                key = (tick.exchange, tick.symbol, grain, floor_to(tick.ts_ms, grain))
                if key in seen:
                    continue
                seen.add(key)
                bucket = self._bucket(series, *key)
                if bucket is not None:
                    buckets.append(bucket)
        return buckets

    @staticmethod
    def _bucket(series: _Series, exchange: str, symbol: str, grain: int, start: int) -> Bucket | None:
        if grain == FINEST:
            slot = series.slots.get(start)
            return None if slot is None else Bucket(exchange, symbol, grain, start, slot.stats, slot.ticks is not None)
        stats = series.coarse[grain].get(start)
        return None if stats is None else Bucket(exchange, symbol, grain, start, stats, True)

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]:
        found = (self._latest.get((exchange, symbol)) for exchange in exchanges)
        return [price for price in found if price is not None]

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        """Per exchange, the stats of ticks with ``after_ms < ts <= to_ms``: whole buckets, then edge ticks."""
        read = WindowRead({})
        now = seconds_to_ms(self._clock())
        oldest = floor_to(now, FINEST) - self._retention_ms
        split = split_window(after_ms, to_ms)
        for exchange in exchanges:
            stats = read.stats[exchange] = PriceStats()
            series = self._series.get((exchange, symbol))
            if series is None:
                continue
            for grain, first, end in split.whole:
                table = series.coarse[grain]
                for start in range(first, end, grain):
                    part = table.get(start)
                    if part is not None:
                        stats.merge(part)
            for after, to in split.edges:
                first = max(floor_to(after + 1, FINEST), oldest)
                for start in range(first, min(to, series.newest) + 1, FINEST):
                    if not self._count_slot(series.slots.get(start), exchange, after, to, stats):
                        read.mark_partial(RAW_CAPPED.format(max_ticks=self._max_ticks))
        return read

    @staticmethod
    def _count_slot(slot: _Slot | None, exchange: str, after: int, to: int, stats: PriceStats) -> bool:
        """Add a slot's ticks that lie in ``(after, to]``; False if the edge needed raw ticks it no longer has."""
        if slot is None:
            return True
        part = cover(slot.stats.first_ts, slot.stats.last_ts, after, to)
        if part is Cover.WHOLE:
            stats.merge(slot.stats)
        elif part is Cover.SPLIT:
            if slot.ticks is None:
                return False
            for ts, price, _, quantity, _ in slot.ticks:
                if after < ts <= to:
                    stats.add(exchange, price, ts, quantity)
        return True

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        """The held buckets of one coarser grain with ``from_ms <= start < to_ms``, exchanges merged."""
        merged: dict[int, PriceStats] = {}
        for exchange in exchanges:
            series = self._series.get((exchange, symbol))
            if series is None:
                continue
            table = series.coarse[grain_ms]
            # Only the retention can hold buckets: the scan never outgrows it, whatever span was asked.
            oldest = series.newest - self._retention_ms - grain_ms
            first = max(ceil_to(from_ms, grain_ms), floor_to(oldest, grain_ms))
            for start in range(first, min(to_ms, series.newest + 1), grain_ms):
                part = table.get(start)
                if part is not None:
                    merge_at(merged, start, part)
        return BucketRead(merged)

    def snapshot(self, batch_ticks: int) -> Iterator[CacheBatch]:
        """Everything held, as cache batches of about ``batch_ticks`` items: to write back a cache that lost it."""
        ticks: list[Tick] = []
        buckets: list[Bucket] = []
        for (exchange, symbol), series in list(self._series.items()):
            for grain, table in series.coarse.items():
                buckets.extend(Bucket(exchange, symbol, grain, start, stats, True) for start, stats in table.items())
            for start, slot in list(series.slots.items()):
                buckets.append(Bucket(exchange, symbol, FINEST, start, slot.stats, slot.ticks is not None))
                ticks.extend(
                    Tick(exchange, symbol, price, ts, seq, q, lease=lease)
                    for ts, price, seq, q, lease in slot.ticks or ()
                )
                if len(ticks) + len(buckets) >= batch_ticks:
                    yield CacheBatch(ticks, buckets)
                    ticks, buckets = [], []
        if ticks or buckets:
            yield CacheBatch(ticks, buckets)
