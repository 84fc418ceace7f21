"""In-memory stand-ins for the ports, for unit tests of the services only."""

from collections.abc import Callable, Sequence

import gevent

from app.adapters.feeds.wire_line import decode_line
from app.application.ports import (
    CacheBatch,
    CacheLost,
    Emit,
    LatestPrice,
    MinuteBatch,
    MinuteRow,
    SealMark,
    SourceStatus,
    StorageUnavailable,
    WindowRead,
)
from app.application.recent_window import RecentWindow
from app.domain.stats import PriceStats
from app.domain.tick import Tick

MARK = SealMark("test-run", 0)
"""A seal mark for batches built by hand."""


class FlakyCache:
    """A cache in memory, with switches: ``down`` fails every call like a dead Redis,
    ``restart_empty()`` loses everything (the mark too) like a Redis restarted without persistence.

    Every tick written is taken as written by process ``run``.
    """

    def __init__(self, clock: Callable[[], float], run: str = "test-run") -> None:
        self._clock = clock
        self.run = run
        self.down = False
        self.writes = 0
        self.restart_empty()

    def restart_empty(self) -> None:
        self._held = RecentWindow(retention_ms=3_600_000, max_ticks=100_000, clock=self._clock)
        self._seqs: set[int] = set()
        self.since_ms: int | None = None

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake cache down")

    def _check_marked(self) -> None:
        self._check()
        if self.since_ms is None:
            raise CacheLost("fake cache lost its data")

    def write(self, batch: CacheBatch) -> bool:
        self._check()
        self.writes += 1
        # Idempotent like Redis: a tick's identity is its seq, so writing it again changes nothing.
        fresh = [tick for tick in batch.ticks if tick.seq not in self._seqs]
        self._seqs.update(tick.seq for tick in fresh)
        self._held.write(fresh)
        return self.since_ms is not None

    def mark(self, since_ms: int) -> None:
        self._check()
        if self.since_ms is None:
            self.since_ms = since_ms

    def latest(self, symbol: str, exchanges: Sequence[str]) -> list[LatestPrice]:
        self._check_marked()
        return self._held.latest(symbol, exchanges)

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        self._check_marked()
        return self._held.window(symbol, exchanges, after_ms, to_ms)

    def held(self) -> list[Tick]:
        """Every tick held, for assertions."""
        return [tick for batch in self._held.snapshot(1 << 30) for tick in batch.ticks]

    def ticks_after(self, mark: SealMark) -> list[Tick]:
        self._check()
        return [tick for tick in self.held() if mark.run == self.run and tick.seq > mark.seq]

    def ping(self) -> float:
        self._check()
        return 0.0


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
