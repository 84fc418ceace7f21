"""The trade gaps known to be lost: counted per source, shown in /health, flagged on answers and rows.

A gap is recorded once backfill has recovered what the exchange still had.
It then marks the minute rows it touches incomplete (``GapListener``, the
minute store's side), goes into the ``GapBook`` every process reads, and
every window or candle answer of that (exchange, symbol) that reaches into
it says it is partial, whichever worker of whichever host answers. Memory
is bounded: the newest ``MAX_GAPS_KEPT`` gaps per source are kept for
answers and /health, while the count keeps growing.
"""

import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from app.application.ports.coordination import GapBook
from app.application.ports.storage import StorageUnavailable
from app.application.process_report import GapReport
from app.domain.iso_instant import iso_ms
from app.domain.missed_trades import TradeGap

log = logging.getLogger(__name__)

MAX_GAPS_KEPT = 100


def describe(gap: TradeGap) -> str:
    lost = f"{gap.lost} trades" if gap.lost is not None else "trades"
    return f"{lost} of {gap.exchange} {gap.symbol} lost between {iso_ms(gap.from_ms)} and {iso_ms(gap.to_ms)}"


def gap_report(gap: TradeGap) -> GapReport:
    """What /health shows of a gap."""
    return GapReport(gap.symbol, iso_ms(gap.from_ms), iso_ms(gap.to_ms), gap.lost)


class GapListener(Protocol):
    def gap_found(self, gap: TradeGap) -> None:
        """A gap was recorded (the minute store's side marks the rows it touches incomplete)."""
        ...


class TradeGaps:
    """Kept and counted per feed (the one that missed them: an exchange, or a shard of one); ``book``: where
    every process finds them (a gap it can't take yet, Redis being down, is added with the next one or asked
    for)."""

    def __init__(self, listener: GapListener | None = None, book: GapBook | None = None) -> None:
        self._listener = listener
        self._book = book
        self._kept: dict[str, deque[TradeGap]] = {}
        self._unbooked: deque[TradeGap] = deque(maxlen=MAX_GAPS_KEPT)
        self.counts: dict[str, int] = {}

    def record(self, feed: str, gap: TradeGap) -> None:
        self._kept.setdefault(feed, deque(maxlen=MAX_GAPS_KEPT)).append(gap)
        self.counts[feed] = self.counts.get(feed, 0) + 1
        log.warning("trades could not be recovered", extra={"exchange": feed, "error": describe(gap)})
        self._unbooked.append(gap)
        self._book_pending()
        if self._listener is not None:
            self._listener.gap_found(gap)

    def _book_pending(self) -> bool:
        """Add the gaps the book has not taken yet; False while it does not answer."""
        while self._book is not None and self._unbooked:
            try:
                self._book.add(self._unbooked[0])
            except StorageUnavailable:
                return False
            self._unbooked.popleft()
        return True

    def of(self, feed: str) -> list[TradeGap]:
        return list(self._kept.get(feed, ()))

    def overlapping(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> list[TradeGap]:
        """The gaps of ``symbol`` on ``exchanges`` that a window ``from_ms..to_ms`` reaches into: every process's
        (the book's), and this process's own (those the book may not have yet), each once."""
        found = {
            gap
            for kept in self._kept.values()
            for gap in kept
            if gap.symbol == symbol and gap.exchange in exchanges and gap.overlaps(from_ms, to_ms)
        }
        if self._book is not None and self._book_pending():
            # Redis down: this process's own, then (answers for feeds read elsewhere are partial anyway).
            with contextlib.suppress(StorageUnavailable):
                found.update(self._book.overlapping(symbol, exchanges, from_ms, to_ms))
        return sorted(found, key=lambda gap: (exchanges.index(gap.exchange), gap.from_ms, gap.to_ms))
