"""Stored history's upkeep: partitions made ahead, partitions past retention dropped, on a cadence.

Owns one greenlet. Every process runs it; the store lets one process at a
time do a round (the others only look), so a drop happens once whichever
process gets there first. Each round's changes are logged and counted, and
the oldest partition of each tier is kept for ``/health``; the counts go in
the process's report (``UpkeepReport``), so ``/metrics`` shows every
process's from any worker.
The waits are PostgreSQL's (the driver yields to gevent); the Python side
of a round is a few dozen steps.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable

import gevent

from app.application.owned_loop import OwnedLoop
from app.application.ports.storage import RetainingStore, StorageUnavailable, StoredHistory
from app.application.process_report import UpkeepReport
from app.domain.iso_instant import iso_ms
from app.domain.retention import TIER_NAMES, Retention
from app.domain.time_grid import seconds_to_ms

log = logging.getLogger(__name__)


class HistoryUpkeep:
    """``store``: the minute store this process writes through, whose rows left out past retention are counted."""

    def __init__(
        self,
        history: StoredHistory,
        store: RetainingStore,
        retention: Retention,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._history = history
        self._store = store
        self._retention = retention
        self._interval = interval
        self._clock = clock
        self._loop = OwnedLoop(self._run_forever)
        self.partitions_created = 0
        self.partitions_dropped: Counter[str] = Counter()
        self.feed_owners_removed = 0
        # Per tier (``minutes``, ``hours``, ``days``, ``batches``): the first instant of its oldest partition.
        self.oldest_ms: dict[str, int | None] = {}
        self.last_error: str | None = None

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def run_once(self) -> None:
        """One round; a store that does not answer is logged and tried again next round."""
        try:
            done = self._history.upkeep(seconds_to_ms(self._clock()))
        except StorageUnavailable as exc:
            self.last_error = str(exc)
            log.warning("history upkeep skipped: PostgreSQL unavailable", extra={"error": str(exc)})
            return
        self.last_error = None
        self.oldest_ms = done.oldest_ms
        self.partitions_created += done.created
        self.feed_owners_removed += done.owners_removed
        for tier, partition in done.dropped:
            self.partitions_dropped[tier] += 1
            log.info("partition past retention dropped", extra={"tier": tier, "partition": partition})
        if done.owners_removed:
            log.info("fencing rows of feeds no longer configured removed", extra={"rows": done.owners_removed})

    def report(self) -> UpkeepReport:
        return UpkeepReport(
            partitions_created=self.partitions_created,
            partitions_dropped=dict(self.partitions_dropped),
            rows_past_retention=self._store.rows_past_retention,
            oldest_ms=dict(self.oldest_ms),
        )

    def status(self) -> dict[str, object]:
        """Per tier of rows: the days kept (0: for ever) and the oldest instant kept, as far as the last round
        saw (null before one answered): its oldest partition's start, or the retention's horizon if later."""
        now_ms = seconds_to_ms(self._clock())
        tiers: dict[str, object] = {}
        for grain, name in TIER_NAMES.items():
            oldest = self.oldest_ms.get(name)
            horizon = self._retention.kept_from(grain, now_ms)
            if oldest is not None and horizon is not None:
                oldest = max(oldest, horizon)
            tiers[name] = {
                "kept_days": self._retention.days(grain),
                "oldest": None if oldest is None else iso_ms(oldest),
            }
        return {**tiers, "error": self.last_error}

    def _run_forever(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:  # a bug here must not end the upkeep for the life of the process
                log.exception("history upkeep failed")
            gevent.sleep(self._interval)
