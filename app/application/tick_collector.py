"""The collector: the pipeline's second fan-in, from the decode workers to everything that keeps ticks.

    results queue --> memory window, minute aggregator, observers, batching --> cache queue

Owns one greenlet. It numbers each tick as it comes (``seq``: arrival order
in this process, what tells equal trades apart and makes a rewrite a
no-op), updates the in-process window and the minute aggregator, tells
the observers (the price stream relay, trade continuity), and batches ticks
for the cache writer by size and by age.
"""

import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import gevent
from gevent.queue import Empty, Full, Queue

from app.application.aggregator import MinuteAggregator
from app.application.recent_window import RecentWindow
from app.domain.tick import Tick

_FLUSH = object()


class TickObserver(Protocol):
    """Sees every batch of decoded ticks, in order."""

    def observe(self, ticks: list[Tick]) -> None: ...


class TickCollector:
    def __init__(
        self,
        results: Queue,
        cache_queue: Queue,
        window: RecentWindow,
        aggregator: MinuteAggregator,
        batch_size: int,
        batch_interval: float,
    ) -> None:
        self._results = results
        self._cache_queue = cache_queue
        self._window = window
        self._aggregator = aggregator
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._seq = 0
        self._greenlet: gevent.Greenlet | None = None
        # Connected by the composition root.
        self.observers: list[TickObserver] = []

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._collect_loop)

    def stop(self, left: Callable[[], float]) -> None:
        """After the ingestion stopped: take what is queued, hand the last batch on, and end; killed if still
        at it when the drain's time is up (``left()``: what remains of it). What it has not taken is lost,
        never doubled."""
        if self._greenlet is None:
            return
        with contextlib.suppress(Full):  # a collector that can't take it now is killed below
            self._results.put(None, timeout=left())
        self._greenlet.join(timeout=left())
        self._greenlet.kill()
        self._greenlet = None

    def _collect_loop(self) -> None:
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
                    observer.observe(ticks)
                if not batch:
                    deadline = time.monotonic() + self._batch_interval
                batch.extend(ticks)
                marks.append(received)
                if len(batch) < self._batch_size:
                    continue
            if batch:
                self._cache_queue.put((batch, marks))
                batch, marks = [], []
        if batch:
            self._cache_queue.put((batch, marks))
        self._cache_queue.put(None)
