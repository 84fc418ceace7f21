"""The ingest pipeline: fan-in, a worker pool, fan-in again to batched writers.

    sources --(emit)--> ingest queue --> N decode workers --> result queue
        --> collector (memory window, minute aggregator, batching)
        --> cache queue --> cache writer (Redis)

Overflow policy, per queue:
- ingest queue (bounded, in raw reads): a source waits up to
  ``ingest_put_timeout`` for room, which pushes back on TCP senders; after
  that the read is dropped and counted in ``ingest_dropped``.
- result and cache queues (bounded): producers wait. They sit behind the
  ingest queue, so pressure there lands on the one policy above.
- a trade whose id was seen lately (a replay, an overlap, a backfill) is
  dropped in the decode workers and counted in its source's ``duplicates``.
- cache writes that fail are counted in ``cache_failed``; the memory window
  still has those ticks, so queries stay complete. Once the cache answers
  again, the whole memory window is written back to it (idempotently: a
  tick's cache identity is fixed by its ``seq``) and only then is the cache
  trusted for queries again (``cache_consistent``). A cache that restarted
  empty is noticed by the mark it lost (``TickCache.mark``) and written back
  the same way.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent.queue import Empty, Full, Queue

from app.application.aggregator import MinuteAggregator
from app.application.pipeline_stats import PipelineStats
from app.application.ports import CacheBatch, FeedSource, SourceStatus, StorageUnavailable, TickCache
from app.application.recent_window import RecentWindow
from app.application.throttled_log import ThrottledLog
from app.domain.errors import InvalidTick
from app.domain.seen_trades import SeenTrades
from app.domain.tick import Tick
from app.domain.validation import make_tick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSettings:
    workers: int
    ingest_queue_size: int
    ingest_put_timeout: float
    result_queue_size: int
    cache_batch_size: int
    cache_batch_interval: float
    cache_queue_size: int
    aggregate_interval: float
    checkpoint_interval: float
    max_price: float


@dataclass
class _Read:
    source: FeedSource
    status: SourceStatus
    lines: list[bytes]
    received: float


_FLUSH = object()
CACHE_RETRY_SECONDS = 1.0


class Pipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        symbols: frozenset[str],
        cache: TickCache,
        window: RecentWindow,
        aggregator: MinuteAggregator,
    ) -> None:
        self.settings = settings
        self._symbols = symbols
        self._cache = cache
        self._window = window
        self._aggregator = aggregator
        self.stats = PipelineStats()
        self._ingest: Queue = Queue(settings.ingest_queue_size)
        self._results: Queue = Queue(settings.result_queue_size)
        self._cache_queue: Queue = Queue(settings.cache_queue_size)
        self._workers: list[gevent.Greenlet] = []
        self._collector: gevent.Greenlet | None = None
        self._cache_writer: gevent.Greenlet | None = None
        self._aggregate_loop: gevent.Greenlet | None = None
        self._replay: gevent.Greenlet | None = None
        self._sources: dict[str, tuple[FeedSource, SourceStatus, gevent.Greenlet]] = {}
        self.statuses: dict[str, SourceStatus] = {}
        self.cache_consistent = True
        # Whether the cache ever held this process's mark: after that, a restore follows a loss.
        self._marked = False
        self._seq = 0
        # Called with every decoded batch of ticks, in order (e.g. the WebSocket price stream).
        self.observers: list[Callable[[list[Tick]], None]] = []
        self._rejects = ThrottledLog(log)
        # Trade ids seen lately, per (exchange, symbol): a trade that comes again is dropped and counted.
        self._seen = SeenTrades()

    @property
    def running(self) -> bool:
        return self._collector is not None and not self._collector.dead

    def queue_depths(self) -> dict[str, int]:
        return {
            "ingest": self._ingest.qsize(),
            "results": self._results.qsize(),
            "cache": self._cache_queue.qsize(),
        }

    def start(self) -> None:
        if self.running:
            return
        self._workers = [gevent.spawn(self._decode_loop) for _ in range(self.settings.workers)]
        self._collector = gevent.spawn(self._collect_loop)
        self._cache_writer = gevent.spawn(self._cache_loop)
        self._aggregate_loop = gevent.spawn(self._aggregate_forever)
        self._replay = gevent.spawn(self._replay_until_done)

    # -- sources -------------------------------------------------------

    def attach(self, source: FeedSource) -> None:
        """Start reading ``source``; its messages join the shared ingest queue."""
        if source.name in self._sources:
            return
        status = self.statuses.get(source.name) or SourceStatus(source.name)
        self.statuses[source.name] = status
        status.state = "connecting"
        emit = self._emitter(source, status)
        greenlet = gevent.spawn(self._run_source, source, emit, status)
        self._sources[source.name] = (source, status, greenlet)

    def detach(self, name: str, timeout: float = 5.0) -> None:
        """Stop a source; what it already emitted stays queued and is processed."""
        entry = self._sources.pop(name, None)
        if entry is None:
            return
        _, status, greenlet = entry
        greenlet.kill(timeout=timeout)
        status.state = "stopped"
        status.connected_since = None

    def attached(self) -> list[str]:
        return list(self._sources)

    def _run_source(self, source: FeedSource, emit: Callable[[list[bytes]], None], status: SourceStatus) -> None:
        try:
            source.run(emit, status)
        except gevent.GreenletExit:
            raise
        except Exception as exc:  # a source bug must not take the pipeline down
            status.state = "failed"
            status.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("source crashed", extra={"exchange": source.name})

    def _emitter(self, source: FeedSource, status: SourceStatus) -> Callable[[list[bytes]], None]:
        put = self._ingest.put
        timeout = self.settings.ingest_put_timeout
        stats = self.stats

        def emit(lines: list[bytes]) -> None:
            now = time.time()
            status.messages += len(lines)
            status.last_message_at = now
            stats.received += len(lines)
            try:
                put(_Read(source, status, lines, time.monotonic()), timeout=timeout)
            except Full:
                stats.ingest_dropped += len(lines)
                self._rejects.warning(("drop", source.name), "ingest queue full, read dropped", exchange=source.name)

        return emit

    # -- workers -------------------------------------------------------

    def _decode_loop(self) -> None:
        get, put, symbols, max_price = self._ingest.get, self._results.put, self._symbols, self.settings.max_price
        first_time = self._seen.first_time
        while True:
            read = get()
            if read is None:
                return
            source, status = read.source, read.status
            now_ms = int(time.time() * 1000)
            ticks: list[Tick] = []
            for raw in read.lines:
                try:
                    for decoded in source.decode(raw):
                        if isinstance(decoded, InvalidTick):
                            self._reject(status, decoded.reason, decoded)
                            continue
                        try:
                            tick = make_tick(source.name, *decoded, symbols, now_ms, max_price)
                        except InvalidTick as exc:
                            self._reject(status, exc.reason, exc)
                            continue
                        if tick.trade_id is None or first_time(tick.exchange, tick.symbol, tick.trade_id):
                            ticks.append(tick)
                        else:
                            status.duplicates += 1
                except InvalidTick as exc:
                    self._reject(status, exc.reason, exc)
                except Exception as exc:  # a decoder bug is counted, never fatal
                    self._reject(status, "decoder_error", exc)
            if ticks:
                self.stats.ticks += len(ticks)
                status.ticks += len(ticks)
                put((ticks, read.received))
            gevent.sleep(0)

    def _reject(self, status: SourceStatus, reason: str, exc: Exception) -> None:
        self.stats.rejected += 1
        status.decode_errors[reason] = status.decode_errors.get(reason, 0) + 1
        self._rejects.warning(
            (status.name, reason), "feed message skipped", exchange=status.name, reason=reason, error=str(exc)[:200]
        )

    # -- fan-in and batching ------------------------------------------

    def _collect_loop(self) -> None:
        settings = self.settings
        batch: list[Tick] = []
        marks: list[float] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if batch else None
            try:
                item = self._results.get(timeout=timeout)
            except Empty:
                item = _FLUSH
            if item is None:
                break
            if item is not _FLUSH:
                ticks, received = item
                seq = self._seq
                for tick in ticks:
                    seq += 1
                    tick.seq = seq
                self._seq = seq
                self._window.write(ticks)
                self._aggregator.add(ticks)
                for observer in self.observers:
                    observer(ticks)
                if not batch:
                    deadline = time.monotonic() + settings.cache_batch_interval
                batch.extend(ticks)
                marks.append(received)
                if len(batch) < settings.cache_batch_size:
                    continue
            if batch:
                self._cache_queue.put((batch, marks))
                batch, marks = [], []
        if batch:
            self._cache_queue.put((batch, marks))
        self._cache_queue.put(None)

    def _cache_loop(self) -> None:
        stats = self.stats
        # Readers trust the cache only once it holds this process's mark: set it before the first write.
        self.cache_consistent = False
        self._try_restore()
        while True:
            try:
                # While the cache is behind, wake up now and then to write the window back even if no tick comes.
                item = self._cache_queue.get(timeout=None if self.cache_consistent else CACHE_RETRY_SECONDS)
            except Empty:
                self._try_restore()
                continue
            if item is None:
                return
            ticks, marks = item
            try:
                kept = self._cache.write(CacheBatch(ticks, self._window.buckets_for(ticks)))
            except StorageUnavailable:
                stats.cache_failed += len(ticks)
                if self.cache_consistent:
                    log.warning("cache unavailable: answering from the in-process window")
                self.cache_consistent = False
                continue
            stats.cached += len(ticks)
            done = time.monotonic()
            stats.cache_latency.extend(done - mark for mark in marks)
            if not kept:
                self._cache_lost()
            if not self.cache_consistent:
                self._try_restore()

    def _cache_lost(self) -> None:
        """The cache no longer holds this process's mark: it restarted empty."""
        self.stats.cache_lost += 1
        log.warning("cache lost its data (restarted empty?): writing the in-process window back")
        self.cache_consistent = False

    def _try_restore(self) -> None:
        with contextlib.suppress(StorageUnavailable):
            self._restore_cache()

    def _restore_cache(self) -> None:
        """Write the whole in-process window back, in batches, then trust the cache again.

        Buckets are absolute values and a tick's member is fixed by its seq,
        so what the cache already held is rewritten unchanged. Once the mark
        is back, readers trust the cache again; after a loss it says the
        cache is complete only from this process's start.
        """
        restored = 0
        for batch in self._window.snapshot(self.settings.cache_batch_size):
            self._cache.write(batch)
            restored += len(batch.ticks)
            gevent.sleep(0)
        self._cache.mark(self._window.since_ms if self._marked else 0)
        self._marked = True
        self.cache_consistent = True
        self.stats.cache_restored += restored
        log.info("cache restored from the in-process window", extra={"ticks": restored})

    def _aggregate_forever(self) -> None:
        """Seal minutes as they close, and every ``checkpoint_interval`` the open ones too.

        A checkpoint spools the open minutes as deltas (the store adds them up),
        so what a crash leaves only in memory is at most the last interval,
        and the next process replays that part from the cache.
        """
        checkpoint = self.settings.checkpoint_interval
        last_checkpoint = time.monotonic()
        while True:
            try:
                gevent.sleep(self.settings.aggregate_interval)
                if checkpoint and time.monotonic() - last_checkpoint >= checkpoint:
                    self._aggregator.close_all()
                    last_checkpoint = time.monotonic()
                else:
                    self._aggregator.close_due()
                self._aggregator.flush()
            except Exception:  # a bug here must not stop minutes from being sealed ever after
                log.exception("aggregation cycle failed")
                gevent.sleep(self.settings.aggregate_interval)

    def _replay_until_done(self) -> None:
        """Replay a crashed predecessor's unsealed ticks, retrying while the cache is down.

        A greenlet of its own: the scan can take a while and must not hold up sealing.
        """
        while not self._aggregator.replay(self._cache):
            gevent.sleep(CACHE_RETRY_SECONDS)

    # -- shutdown ------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sources, drain every queue, then flush every minute, the open one too."""
        for name in list(self._sources):
            self.detach(name)
        if self._collector is None:
            return
        deadline = time.monotonic() + timeout
        for loop in (self._aggregate_loop, self._replay):
            if loop is not None:
                loop.kill()
        for _ in self._workers:
            self._ingest.put(None)
        gevent.joinall(self._workers, timeout=max(0.1, deadline - time.monotonic()))
        self._results.put(None)
        self._collector.join(timeout=max(0.1, deadline - time.monotonic()))
        if self._cache_writer is not None:
            self._cache_writer.join(timeout=max(0.1, deadline - time.monotonic()))
        self._aggregator.close_all()
        self._aggregator.flush()
        self._collector = None
