"""The minute aggregator's cadence: claims of feeds taken over, sealing, checkpoints, flushes to the store.

Owns one greenlet. Every ``interval`` it claims (and replays) the feeds
taken over since, seals the minutes ``grace`` past their end (every open
one at a checkpoint, as deltas the store adds up, so a crash leaves at most
one checkpoint interval only in memory, which the feed's next owner replays
from the cache), and writes what is spooled.
"""

import logging
import time

import gevent

from app.application.aggregator import MinuteAggregator
from app.application.owned_loop import OwnedLoop
from app.application.ports.storage import TickCache

log = logging.getLogger(__name__)


class MinuteCadence:
    def __init__(self, aggregator: MinuteAggregator, cache: TickCache, interval: float, checkpoint: float) -> None:
        self._aggregator = aggregator
        self._cache = cache
        self._interval = interval
        self._checkpoint = checkpoint
        self._loop = OwnedLoop(self._run_forever)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        """After the last tick: claim, seal every minute (the open one too) and write what the store takes."""
        self._loop.stop()
        self._aggregator.claim_pending(self._cache)  # a feed taken just now: its rows wait for its claim
        self._aggregator.close_all()
        self._aggregator.flush()

    def _run_forever(self) -> None:
        last_checkpoint = time.monotonic()
        while True:
            try:
                gevent.sleep(self._interval)
                self._aggregator.claim_pending(self._cache)
                if self._checkpoint and time.monotonic() - last_checkpoint >= self._checkpoint:
                    self._aggregator.close_all()
                    last_checkpoint = time.monotonic()
                else:
                    self._aggregator.close_due()
                self._aggregator.flush()
            except Exception:  # a bug here must not stop minutes from being sealed ever after
                log.exception("aggregation cycle failed")
                gevent.sleep(self._interval)
