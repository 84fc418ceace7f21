"""Recovering one exchange's missed trades, one finding at a time, in the order they were found.

Recovered trades go into the pipeline through the feed's own ``emit``
(oldest first), where they are validated like any trade and the ones the
stream did deliver after all are dropped as duplicates; the minute rows
then come out as if the stream had never dropped. What the exchange no
longer has is recorded as a gap. An exchange without a history API (or one
that can't be reached) loses the whole span.
"""

import logging
from collections.abc import Callable

from gevent.queue import Queue

from app.application.ports.feeds import TradeHistory
from app.application.source_status import SourceStatus
from app.application.trade_gaps import TradeGaps
from app.domain.missed_trades import Missing, Recovery, TradeGap
from app.domain.tick import RawTrade

log = logging.getLogger(__name__)


def _sequential_count(missing: Missing) -> int | None:
    try:
        return int(missing.before.trade_id) - int(missing.after.trade_id) - 1
    except ValueError:
        return None


def _entry(trade_id: str) -> str:
    return trade_id.split(":", 1)[0]


def unrecoverable(exchange: str, missing: Missing, sequential: bool) -> Recovery:
    """The whole span lost, counted when ids are sequential."""
    count = _sequential_count(missing) if sequential else None
    return Recovery([], TradeGap(exchange, missing.symbol, missing.after.ts_ms, missing.before.ts_ms, count))


class Backfill:
    """One feed's (``feed``: an exchange, or a shard of one): the findings of its own trades."""

    def __init__(
        self, feed: str, exchange: str, history: TradeHistory | None, sequential: bool, gaps: TradeGaps
    ) -> None:
        self._feed = feed
        self._exchange = exchange
        self._history = history
        self._sequential = sequential
        self._gaps = gaps

    def run(self, missing: Queue, emit: Callable[[list[RawTrade]], None], status: SourceStatus) -> None:
        """Work through ``missing`` until killed (by the feed that owns this greenlet)."""
        while True:
            finding: Missing = missing.get()
            recovery = self._recover(finding)
            # The span's two ends were delivered (the first one maybe to a previous owner, whose ids this process
            # never saw), with the whole entry each came in (an OKX entry of n trades is ids ``t``, ``t:2``, ...):
            # only what lies between them is missing.
            ends = {_entry(finding.after.trade_id), _entry(finding.before.trade_id)}
            trades = [trade for trade in recovery.trades if _entry(str(trade[4])) not in ends]
            if trades:
                emit(trades)
                status.recovered(len(trades))
            if recovery.lost is not None:
                self._gaps.record(self._feed, recovery.lost)

    def _recover(self, finding: Missing) -> Recovery:
        if self._history is None:
            return unrecoverable(self._exchange, finding, self._sequential)
        try:
            return self._history.recover(finding)
        except OSError as exc:
            log.warning(
                "trade history unavailable: the missed trades are lost",
                extra={"exchange": self._exchange, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return unrecoverable(self._exchange, finding, self._sequential)
