"""Finding the trades a live stream missed, from the trades it did deliver.

An observer of the pipeline: it sees every exchange's ticks in pipeline
order, after duplicates are gone, and keeps per (exchange, symbol) the
newest trade seen. Two things show that trades were missed:
- a reconnect: between the last trade before it and the first trade after
  it, per symbol, anything can have happened;
- on an exchange whose ids are sequential per symbol (Binance), an id that
  jumps: the ids in between are trades never delivered (after a reconnect
  too, so there a jump of one means nothing was missed).
- a feed just taken over (from a dead owner, or after a restart): its
  previous reader's last trade of each symbol is in the cache (written with
  its ticks, so nothing before it is missing from the cache); each symbol's
  first trade since closes a span like a reconnect does. Only marks younger
  than the cache's retention count: an older one could ask the exchange for
  days of trades, and what long ago is no longer ours to recover.
Each finding becomes a ``Missing`` on the feed's queue, which its
backfill works through in order. A full queue is a gap nobody can recover,
recorded as such. The time each symbol was last seen also tells which
symbols fell silent on a live connection (``silent``).
"""

import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from gevent.queue import Full, Queue

from app.application.ports.storage import StorageUnavailable
from app.application.trade_gaps import TradeGaps
from app.domain.missed_trades import Missing, TradeGap, TradeMark
from app.domain.tick import Tick
from app.domain.time_grid import seconds_to_ms

# Findings waiting for one feed's backfill; more than this and the rest are recorded as lost.
MAX_PENDING = 1000


class _Last:
    __slots__ = ("mark", "number", "seen_at")

    def __init__(self, mark: TradeMark, number: int | None, seen_at: float) -> None:
        self.mark = mark
        self.number = number  # the id as an integer, on exchanges whose ids are sequential
        self.seen_at = seen_at


def _number(trade_id: str) -> int | None:
    try:
        return int(trade_id)
    except ValueError:
        return None


class _Feed:
    def __init__(self, name: str, exchange: str, sequential: bool) -> None:
        self.name = name
        self.exchange = exchange
        self.sequential = sequential
        self.last: dict[str, _Last] = {}
        self.awaiting: set[str] = set()  # symbols whose first trade since a reconnect is still to come
        self.missing: Queue = Queue(MAX_PENDING)
        self.started_at = 0.0
        # Per symbol, when the connection carrying it last (re)connected: silence counts from there at most.
        self.connected_at: dict[str, float] = {}


class LastTrades(Protocol):
    """Where each symbol's previous reader stopped (the ``TickCache``)."""

    def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]: ...


class TradeContinuity:
    def __init__(
        self,
        gaps: TradeGaps,
        before: LastTrades,
        max_age_ms: int,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: seconds_to_ms(time.time()),
    ) -> None:
        self._gaps = gaps
        self._before = before
        self._max_age_ms = max_age_ms
        self._clock = clock
        self._wall_ms = wall_ms
        self._feeds: dict[str, _Feed] = {}

    def watch(self, feed: str, exchange: str, sequential: bool) -> Queue:
        """Start watching ``feed`` (an exchange, or a shard of it); returns the queue of its ``Missing`` findings."""
        return self._feeds.setdefault(feed, _Feed(feed, exchange, sequential)).missing

    def started(self, feed: str) -> None:
        """A feed (re)started from scratch (attached): what came before is not ours to recover."""
        state = self._feeds[feed]
        state.last.clear()
        state.awaiting.clear()
        state.connected_at.clear()
        state.started_at = self._clock()

    def reconnected(self, feed: str, symbols: Collection[str]) -> None:
        """A new connection carries ``symbols`` of the feed from now on: each one's next trade closes a possible
        gap (the feed's other connections went on meanwhile, and for a symbol this process has not seen trade
        yet, since where its previous reader stopped)."""
        state = self._feeds[feed]
        now = self._clock()
        self._resume(state, [symbol for symbol in symbols if symbol not in state.last], now)
        state.awaiting |= set(symbols) & set(state.last)
        state.connected_at.update(dict.fromkeys(symbols, now))

    def _resume(self, state: _Feed, symbols: Sequence[str], now: float) -> None:
        """Start these symbols from their previous reader's last trade, if the cache has one recent enough."""
        if not symbols:
            return
        try:
            marks = self._before.last_trades(state.exchange, symbols, self._wall_ms() - self._max_age_ms)
        except StorageUnavailable:  # nothing to resume from: their next trades start afresh
            return
        for symbol, mark in marks.items():
            number = _number(mark.trade_id) if state.sequential else None
            state.last[symbol] = _Last(mark, number, now)

    def observe(self, ticks: list[Tick]) -> None:
        state = self._feeds.get(ticks[0].feed) if ticks else None
        if state is None:
            return
        now = self._clock()
        last, awaiting = state.last, state.awaiting
        for tick in ticks:
            if tick.trade_id is None:
                continue
            symbol = tick.symbol
            mark = TradeMark(tick.trade_id, tick.ts_ms)
            number = _number(tick.trade_id) if state.sequential else None
            before = last.get(symbol)
            if before is None:
                last[symbol] = _Last(mark, number, now)
                continue
            before.seen_at = now
            if number is not None and before.number is not None:
                if number > before.number + 1:
                    self._missing(state, Missing(symbol, before.mark, mark), number - before.number - 1)
                if number > before.number:
                    before.mark, before.number = mark, number
                awaiting.discard(symbol)
                continue
            if symbol in awaiting and tick.ts_ms >= before.mark.ts_ms:
                awaiting.discard(symbol)
                self._missing(state, Missing(symbol, before.mark, mark), None)
            if tick.ts_ms >= before.mark.ts_ms:
                before.mark = mark

    def _missing(self, state: _Feed, missing: Missing, count: int | None) -> None:
        try:
            state.missing.put_nowait(missing)
        except Full:
            gap = TradeGap(state.exchange, missing.symbol, missing.after.ts_ms, missing.before.ts_ms, count)
            self._gaps.record(state.name, gap)

    def silent(self, feed: str, symbols: Collection[str], after: float) -> list[str]:
        """Symbols without a trade for ``after`` seconds (counted from the connection at most) while others trade."""
        state = self._feeds[feed]
        now = self._clock()

        def connected(symbol: str) -> float:
            return state.connected_at.get(symbol, state.started_at)

        last = state.last
        heard = {s: max(connected(s), last[s].seen_at) for s in symbols if s in last}
        if not any(now - at < after for at in heard.values()):
            return []  # nothing flows at all: the connection's own silence timeout handles that
        return sorted(s for s in symbols if now - heard.get(s, connected(s)) >= after)
