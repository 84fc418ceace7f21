"""In-memory stand-ins for the ports, for unit tests of the services only."""

from collections.abc import Callable, Sequence

import gevent

from app.adapters.feeds.wire_line import decode_line
from app.application.ports import (
    Emit,
    LatestPrice,
    MinuteBatch,
    MinuteRow,
    SealMark,
    SourceStatus,
    StorageUnavailable,
)
from app.application.recent_window import RecentWindow
from app.domain.stats import PriceStats
from app.domain.tick import Tick

MARK = SealMark("test-run", 0)
"""A seal mark for batches built by hand."""


class FlakyCache(RecentWindow):
    """The in-memory window, with a switch that makes every call fail like a dead Redis.

    Every tick written is taken as written by process ``run``.
    """

    def __init__(self, clock: Callable[[], float], run: str = "test-run") -> None:
        super().__init__(retention_ms=3_600_000, max_ticks=100_000, clock=clock)
        self.run = run
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake cache down")

    def write(self, ticks: Sequence[Tick]) -> None:
        self._check()
        self.writes += 1
        super().write(ticks)

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]:
        self._check()
        return super().latest(symbol, exchanges)

    def ticks(
        self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int
    ) -> dict[str, list[tuple[int, float]]]:
        self._check()
        return super().ticks(symbol, exchanges, after_ms, to_ms)

    def ticks_after(self, mark: SealMark) -> list[Tick]:
        self._check()
        return [tick for tick in self.snapshot() if mark.run == self.run and tick.seq > mark.seq]


class MemoryStore:
    """Merges batches like the PostgreSQL store: by key, once per batch id."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], MinuteRow] = {}
        self.seen: set[str] = set()
        self.attempts = 0
        self.down = False

    def write(self, batch: MinuteBatch) -> None:
        self.attempts += 1
        if self.down:
            raise StorageUnavailable("fake store down")
        if batch.batch_id in self.seen:
            return
        self.seen.add(batch.batch_id)
        for row in batch.rows:
            key = (row.exchange, row.symbol, row.minute_ms)
            old = self.rows.get(key)
            if old is None:
                self.rows[key] = row
                continue
            count = old.count + row.count
            mean = (old.mean * old.count + row.mean * row.count) / count
            self.rows[key] = MinuteRow(
                row.exchange, row.symbol, row.minute_ms, count, mean, min(old.low, row.low), max(old.high, row.high)
            )

    def summarize(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> PriceStats:
        if self.down:
            raise StorageUnavailable("fake store down")
        stats = PriceStats()
        for (exchange, row_symbol, minute), row in self.rows.items():
            if row_symbol == symbol and exchange in exchanges and from_ms <= minute < to_ms:
                part = PriceStats()
                part.count, part.total = row.count, row.mean * row.count
                part.low, part.low_ts, part.low_exchange = row.low, minute, exchange
                part.high, part.high_ts, part.high_exchange = row.high, minute, exchange
                stats.merge(part)
        return stats

    def ping(self) -> float:
        if self.down:
            raise StorageUnavailable("fake store down")
        return 0.0


class ScriptedSource:
    """A source that emits the reads it was given, then idles."""

    decode = staticmethod(decode_line)

    def __init__(self, name: str, reads: list[list[bytes]]) -> None:
        self.name = name
        self._reads = reads

    def run(self, emit: Emit, status: SourceStatus) -> None:
        status.state = "connected"
        for lines in self._reads:
            emit(lines)
            gevent.sleep(0)
        gevent.sleep(3600)


class Clock:
    """A settable clock in seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
