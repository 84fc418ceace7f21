"""Minute rows that a known trade gap touches are stored ``complete = false``, never silently short.

A gap is known only once backfill is done, so some of its minutes are
stored already (they are marked at once) and some are not yet (a minute
still open, or recovered trades on their way): every batch written later
that holds a row of a kept gap's minutes marks those again. Wraps the
minute store the aggregator writes to; a mark that fails (the store is
down) is retried with the next batch.
"""

import logging
from collections import deque
from collections.abc import Sequence

from app.application.ports.storage import MarkableStore, StorageUnavailable
from app.domain.minutes import MinuteBatch, SealMark
from app.domain.missed_trades import TradeGap
from app.domain.rollup import StoredRange
from app.domain.stats import PriceStats

log = logging.getLogger(__name__)

# Gaps whose minutes later batches are checked against; older ones had their minutes written long ago.
GAPS_CHECKED = 256


class IncompleteMinutes:
    def __init__(self, store: MarkableStore) -> None:
        self._store = store
        self._gaps: deque[TradeGap] = deque(maxlen=GAPS_CHECKED)
        self._unmarked: list[TradeGap] = []

    def gap_found(self, gap: TradeGap) -> None:
        self._gaps.append(gap)
        self._unmarked.append(gap)
        self._mark_pending()

    def _mark_pending(self) -> None:
        while self._unmarked:
            try:
                self._store.mark_incomplete(self._unmarked[0])
            except StorageUnavailable as exc:
                log.warning("minute store unavailable: incomplete minutes marked later", extra={"error": str(exc)})
                return
            self._unmarked.pop(0)

    def write(self, batch: MinuteBatch) -> list[str]:
        fenced = self._store.write(batch)
        touched = [
            gap
            for gap in self._gaps
            if any(
                row.exchange == gap.exchange and row.symbol == gap.symbol and gap.touches_minute(row.minute_ms)
                for row in batch.rows
            )
        ]
        self._unmarked.extend(gap for gap in touched if gap not in self._unmarked)
        self._mark_pending()
        return fenced

    def claim(self, feed: str, token: int, timeout: float | None = None) -> list[SealMark]:
        return self._store.claim(feed, token, timeout)

    def candles(
        self, symbol: str, exchanges: Sequence[str], interval_ms: int, ranges: Sequence[StoredRange]
    ) -> list[tuple[int, PriceStats]]:
        return self._store.candles(symbol, exchanges, interval_ms, ranges)

    def summarize(self, symbol: str, exchanges: Sequence[str], ranges: Sequence[StoredRange]) -> PriceStats:
        return self._store.summarize(symbol, exchanges, ranges)

    def ping(self) -> float:
        return self._store.ping()
