"""The cache writer: batches of ticks and their buckets into the cache, and the cache's consistency.

Owns one greenlet. While it is behind, it takes every batch queued (up to
``batch_size`` ticks) in one write: a write costs per (exchange, symbol) it
touches, so at market width one big write costs far less than many small
ones, and the writer catches up instead of falling further behind. Writes
that fail are counted (``cache_failed``); the
in-process window still has those ticks, so queries stay complete. Once the
cache answers again, the whole window is written back to it (idempotently:
buckets are absolute values and a tick's member is fixed by its lease and
seq) and only then is it trusted for this process's feeds again
(``consistent``). A cache that restarted empty is noticed by a feed's mark
it lost (``TickCache.mark``), and so is a cluster's failover that lost
writes (the cache drops the marks of those feeds), and written back the same
way.
"""

import contextlib
import logging
import time

import gevent
from gevent.queue import Empty, Queue

from app.application.pipeline_stats import PipelineStats
from app.application.ports.storage import StorageUnavailable, TickCache
from app.application.recent_window import RecentWindow
from app.domain.buckets import CacheBatch
from app.domain.tick import Tick

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class CacheWriter:
    """Keeps the marks of the feeds this process reads now (it hears of each as it is attached, an
    ``AttachListener`` of ingestion)."""

    def __init__(
        self, cache: TickCache, window: RecentWindow, queue: Queue, batch_size: int, stats: PipelineStats
    ) -> None:
        self._cache = cache
        self._window = window
        self._queue = queue
        self._batch_size = batch_size
        self._stats = stats
        self._reading: set[str] = set()
        self._loop: gevent.Greenlet | None = None
        self.consistent = True
        # The feeds whose mark this process has set (a feed gets one before it is read here).
        self._marked: set[str] = set()
        self._restored = False

    def start(self) -> None:
        if self._loop is None:
            self._loop = gevent.spawn(self._write_forever)

    def join(self, timeout: float) -> None:
        """Wait for the writer to end (after the ``None`` its producer puts last); killed if still at it."""
        if self._loop is not None:
            self._loop.join(timeout=timeout)
            self._loop.kill()
            self._loop = None

    def feed_attached(self, feed: str) -> None:
        """Before a feed's first read here, mark it; if the cache does not answer, its first write marks it."""
        self._reading.add(feed)
        with contextlib.suppress(StorageUnavailable):
            self._mark([feed])

    def feed_detached(self, feed: str) -> None:
        self._reading.discard(feed)

    def _write_forever(self) -> None:
        # Readers trust the cache for this process's feeds only once they are marked: before the first write.
        self.consistent = False
        self._try_restore()
        while True:
            try:
                # While the cache is behind, wake up now and then to write the window back even if no tick comes.
                item = self._queue.get(timeout=None if self.consistent else RETRY_SECONDS)
            except Empty:
                self._try_restore()
                continue
            if item is None:
                return
            ticks, marks, ended = self._with_queued(*item)
            self._write(ticks, marks)
            if ended:
                return

    def _with_queued(self, ticks: list[Tick], marks: list[float]) -> tuple[list[Tick], list[float], bool]:
        """``ticks`` and what else is queued, up to ``batch_size`` ticks; and whether the end came with it."""
        while len(ticks) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except Empty:
                break
            if item is None:
                return ticks, marks, True
            ticks, marks = ticks + item[0], marks + item[1]
        return ticks, marks, False

    def _write(self, ticks: list[Tick], marks: list[float]) -> None:
        stats = self._stats
        try:
            self._mark_new_feeds(ticks)
            kept = self._cache.write(CacheBatch(ticks, self._window.buckets_for(ticks)))
        except StorageUnavailable:
            stats.cache_failed += len(ticks)
            if self.consistent:
                log.warning("cache unavailable: answering from the in-process window")
            self.consistent = False
            return
        stats.cached += len(ticks)
        done = time.monotonic()
        stats.cache_latency.extend(done - mark for mark in marks)
        if not kept:
            self._lost()
        if not self.consistent:
            self._try_restore()

    def _mark_new_feeds(self, ticks: list[Tick]) -> None:
        new = {tick.feed for tick in ticks} - self._marked
        if new:
            self._mark(sorted(new))

    def _mark(self, feeds: list[str], since_ms: int = 0) -> None:
        """Tell readers the cache holds these feeds, complete from ``since_ms`` (0: as far back as it keeps).

        A mark already there (a previous owner's, or one a mere outage left) is kept.
        """
        self._cache.mark(since_ms, feeds)
        self._marked.update(feeds)

    def _lost(self) -> None:
        """The cache no longer holds a feed's mark: it restarted empty."""
        self._stats.cache_lost += 1
        log.warning("cache lost data (restarted empty, or a failover lost writes): writing the in-process window back")
        self.consistent = False

    def _try_restore(self) -> None:
        with contextlib.suppress(StorageUnavailable):
            self._restore()

    def _restore(self) -> None:
        """Write the whole in-process window back, in batches, then trust the cache again.

        What the cache already held is rewritten unchanged. Once the marks
        are back, readers trust the cache again; after a loss they say the
        cache is complete only from this process's start.
        """
        restored = 0
        for batch in self._window.snapshot(self._batch_size):
            self._cache.write(batch)
            restored += len(batch.ticks)
            gevent.sleep(0)
        self._marked.clear()
        # The first time, the cache had everything before this process; after that a restore may follow a loss.
        self._mark(sorted(self._reading), self._window.since_ms if self._restored else 0)
        self._restored = True
        self.consistent = True
        self._stats.cache_restored += restored
        log.info("cache restored from the in-process window", extra={"ticks": restored})
