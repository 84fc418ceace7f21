"""In-memory stand-ins for the ports: for unit tests of the services, and for the two ports an in-process
service can't use for real (``MemoryControlChannel``, ``SilentRelay``)."""

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import gevent
from gevent.event import Event

from app.adapters.feeds.wire_line import decode_line
from app.application.ports.feeds import Emit, FeedSource
from app.application.ports.storage import FeedFenced, StorageUnavailable
from app.application.process_report import ProcessReport
from app.application.recent_window import RecentWindow
from app.application.source_status import SourceStatus
from app.domain.buckets import CacheBatch
from app.domain.feed_map import FeedMap
from app.domain.minutes import MinuteBatch, MinuteRow, SealMark
from app.domain.missed_trades import TradeGap, TradeMark
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.retention import Upkeep
from app.domain.rollup import StoredRange
from app.domain.stats import PriceStats
from app.domain.tick import Tick

if TYPE_CHECKING:
    from app.application.pipeline import Pipeline

SEQ = 0
"""The last seq of batches built by hand."""


class FlakyCache:
    """A cache in memory, with switches: ``down`` fails every call like a dead Redis,
    ``restart_empty()`` loses everything (the feeds' marks too) like a Redis restarted without persistence.
    """

    def __init__(self, clock: Callable[[], float], feeds: FeedMap | None = None) -> None:
        self._clock = clock
        self._feeds = feeds or FeedMap()
        self.down = False
        self.writes = 0
        self.restart_empty()

    def restart_empty(self) -> None:
        self._held = RecentWindow(retention_ms=3_600_000, max_ticks=100_000, clock=self._clock)
        self._seqs: set[tuple[int, int]] = set()
        self.marks: dict[str, int] = {}

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake cache down")

    def write(self, batch: CacheBatch) -> bool:
        self._check()
        self.writes += 1
        # Idempotent like Redis: a tick's identity is its lease and seq, so writing it again changes nothing.
        fresh = [tick for tick in batch.ticks if (tick.lease, tick.seq) not in self._seqs]
        self._seqs.update((tick.lease, tick.seq) for tick in fresh)
        self._held.write(fresh)
        return all(tick.feed in self.marks for tick in batch.ticks)

    def mark(self, since_ms: int, feeds: Sequence[str]) -> None:
        self._check()
        for feed in feeds:
            self.marks.setdefault(feed, since_ms)

    def _kept(self, symbol: str, exchanges: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
        """The exchanges whose feed of ``symbol`` is marked, and those whose is not (lost)."""
        kept = [e for e in exchanges if self._feeds.feed_of(e, symbol) in self.marks]
        return kept, tuple(e for e in exchanges if e not in kept)

    def latest(self, symbol: str, exchanges: Sequence[str]) -> tuple[list[LatestPrice], tuple[str, ...]]:
        self._check()
        kept, lost = self._kept(symbol, exchanges)
        return self._held.latest(symbol, kept), lost

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        self._check()
        kept, lost = self._kept(symbol, exchanges)
        read = self._held.window(symbol, kept, after_ms, to_ms)
        read.lost = lost
        return read

    def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]:
        self._check()
        found: dict[str, TradeMark] = {}
        for tick in sorted(self.held(), key=lambda tick: tick.ts_ms):  # the newest last, so it stays
            if tick.exchange == exchange and tick.symbol in symbols and tick.trade_id and tick.ts_ms >= since_ms:
                found[tick.symbol] = TradeMark(tick.trade_id, tick.ts_ms)
        return found

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        self._check()
        kept, lost = self._kept(symbol, exchanges)
        read = self._held.buckets(symbol, kept, grain_ms, from_ms, to_ms)
        read.lost = lost
        return read

    def held(self) -> list[Tick]:
        """Every tick held, for assertions."""
        return [tick for batch in self._held.snapshot(1 << 30) for tick in batch.ticks]

    def ticks_after(self, feed: str, marks: Sequence[SealMark]) -> list[Tick]:
        self._check()
        after = {mark.lease: mark.seq for mark in marks}
        held = [t for t in self.held() if self._feeds.feed_of(t.exchange, t.symbol) == feed]
        return [dataclasses.replace(t, feed=feed) for t in held if t.lease in after and t.seq > after[t.lease]]

    def ping(self) -> float:
        self._check()
        return 0.0


class MemoryStore:
    """Merges batches like the PostgreSQL store: by key, once per batch id, fenced per feed."""

    # It keeps no retention, so it never leaves a row out.
    rows_past_retention = 0

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], MinuteRow] = {}
        self.seen: set[str] = set()
        # Per feed: the newest token, the seal mark, the leases that claimed it since.
        self.owners: dict[str, tuple[int, SealMark, list[int]]] = {}
        self.attempts = 0
        self.down = False
        self.incomplete: list[TradeGap] = []

    def claim(self, feed: str, token: int, timeout: float | None = None) -> list[SealMark]:
        if self.down:
            raise StorageUnavailable("fake store down")
        before = self.owners.get(feed)
        if before is None:
            self.owners[feed] = (token, SealMark(token, 0), [])
            return []
        if before[0] > token:
            raise FeedFenced(feed)
        _, mark, pending = before
        self.owners[feed] = (token, mark, pending if token in pending else [*pending, token])
        marks = [mark] + [SealMark(lease, 0) for lease in pending]
        return [m for m in marks if m.lease != token]

    def write(self, batch: MinuteBatch) -> list[str]:
        self.attempts += 1
        if self.down:
            raise StorageUnavailable("fake store down")
        fenced = []
        # Like the store: a batch's feeds are those of its rows, or of its fences when it has none (a replay).
        for feed in sorted({row.feed for row in batch.rows} or set(batch.fences)):
            token = batch.fences.get(feed, 0)
            before = self.owners.get(feed)
            if before is not None and before[0] > token:
                fenced.append(feed)
                continue
            seq = max(before[1].seq, batch.seq) if before is not None and before[1].lease == token else batch.seq
            self.owners[feed] = (token, SealMark(token, seq), [])
        if batch.batch_id in self.seen:
            return fenced
        self.seen.add(batch.batch_id)
        for row in batch.rows:
            if row.feed in fenced:
                continue
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
        return fenced

    def summarize(self, symbol: str, exchanges: Sequence[str], ranges: Sequence[StoredRange]) -> PriceStats:
        """Every minute row of the ranges' spans (it keeps no rollups, and no retention)."""
        if self.down:
            raise StorageUnavailable("fake store down")
        stats = PriceStats()
        for (exchange, row_symbol, minute), row in self.rows.items():
            if row_symbol == symbol and exchange in exchanges and any(lo <= minute < hi for _, lo, hi in ranges):
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

    def mark_incomplete(self, gap: TradeGap) -> None:
        if self.down:
            raise StorageUnavailable("fake store down")
        self.incomplete.append(gap)


class Rounds:
    """A ``StoredHistory`` that answers each round with the next of what it is given (None: it fails like an
    unreachable PostgreSQL)."""

    def __init__(self, *answers: Upkeep | None) -> None:
        self.answers = list(answers)

    def upkeep(self, now_ms: int) -> Upkeep:
        answer = self.answers.pop(0)
        if answer is None:
            raise StorageUnavailable("postgres unavailable: OperationalError: down")
        return answer


class ScriptedSource:
    """A source that emits the reads it was given, then idles."""

    decode = staticmethod(decode_line)

    def __init__(
        self, name: str, reads: list[list[bytes]], symbols: frozenset[str] = frozenset({"BTCUSDT", "ETHUSDT"})
    ) -> None:
        self.name = self.exchange = name
        self.symbols = symbols
        self._reads = reads

    def run(self, emit: Emit, status: SourceStatus) -> None:
        status.connected(time.time())
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


class MemoryLeases:
    """Feed leases and a process registry shared by the ``FeedOwnership`` of several fake processes.

    ``down`` fails every call like a dead Redis; ``expire(feed)`` lets a lease lapse; tokens only grow.
    """

    def __init__(self) -> None:
        self.holder: dict[str, str] = {}
        self.beats: dict[str, ProcessReport] = {}
        self.token = 0
        self.down = False
        self.renewals = 0

    def of(self, process: str) -> "ProcessLeases":
        return ProcessLeases(self, process)

    def check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake leases down")


class ProcessLeases:
    """One process's view of ``MemoryLeases``."""

    def __init__(self, shared: MemoryLeases, process: str) -> None:
        self._shared = shared
        self.process = process

    def acquire(self, feed: str) -> int | None:
        self._shared.check()
        if feed in self._shared.holder:
            return None
        self._shared.holder[feed] = self.process
        self._shared.token += 1
        return self._shared.token

    def renew(self, feed: str) -> bool:
        self._shared.check()
        self._shared.renewals += 1
        return self._shared.holder.setdefault(feed, self.process) == self.process

    def release(self, feed: str) -> None:
        self._shared.check()
        if self._shared.holder.get(feed) == self.process:
            del self._shared.holder[feed]

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        self._shared.check()
        return {feed: self._shared.holder.get(feed) for feed in feeds}

    def heartbeat(self, report: ProcessReport) -> None:
        self._shared.check()
        self._shared.beats[self.process] = dataclasses.replace(report, id=self.process, run=self.process)

    def leave(self) -> None:
        self._shared.check()
        self._shared.beats.pop(self.process, None)

    def processes(self) -> list[ProcessReport]:
        self._shared.check()
        return list(self._shared.beats.values())


class AllFeeds:
    """Reads every wanted feed in this one process, with no leases: for tests of everything but ownership."""

    def __init__(self, pipeline: "Pipeline") -> None:
        self._pipeline = pipeline
        self._wanted: dict[str, FeedSource] = {}

    def want(self, sources: Sequence[FeedSource]) -> None:
        self._wanted = {source.name: source for source in sources}
        for name in self._pipeline.attached():
            if name not in self._wanted:
                self._pipeline.detach(name)
        for source in self._wanted.values():
            self._pipeline.attach(source)

    def restart(self, names: Sequence[str] | None = None) -> None:
        for name in self._pipeline.attached():
            if names is None or name in names:
                self._pipeline.detach(name)
                self._pipeline.attach(self._wanted[name])

    def held(self) -> list[str]:
        return self._pipeline.attached()

    def reading_since(self, feed: str) -> int | None:
        return 0 if feed in self._pipeline.attached() else None


class MemoryControlChannel:
    """The control channel of a process alone: the shared state held in memory, and no news from elsewhere.

    Redis's own ``listen`` waits on a pub/sub socket, which in a process gevent has not patched stops
    every greenlet; here it reports the state once, as a fresh subscription does, then waits for ever
    (until the service's stop kills it).
    """

    def __init__(self) -> None:
        self.state: dict[str, object] | None = None

    def load(self) -> dict[str, object] | None:
        return self.state

    def publish(self, state: dict[str, object]) -> None:
        self.state = dict(state)

    def listen(self, changed: Callable[[], None]) -> None:
        changed()
        Event().wait()


class SilentRelay:
    """The tick relay of a process alone: nobody to send to, nothing ever received (see ``MemoryControlChannel``)."""

    def send(self, run: str, ticks: Sequence[Tick]) -> None:
        """Dropped: no other process's clients to reach."""

    def listen(self, received: Callable[[str, list[Tick]], None]) -> None:
        Event().wait()
