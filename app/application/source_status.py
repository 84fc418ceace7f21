"""What one feed has been doing, told by the events that change it, read as one snapshot.

A source adapter, the ingestion workers and the backfill each report what
happened to the feed (connected, a read, a rejected line, a recovered trade,
where each of its pairs stands) through these methods; nobody sets a field.
/health, the heartbeat and /metrics read ``snapshot()``, so every view of a
feed is taken at one moment; the pair catalogue reads the pairs that changed.

A feed may run several connections (a wide exchange's symbols spread over
them): each reports through its own ``link``, and the feed's state is the
worst of theirs.
"""

import time
from collections.abc import Callable, Collection

from app.domain.clock_skew import ClockSkew
from app.domain.feed_snapshot import (
    BACKING_OFF,
    CONNECTED,
    CONNECTING,
    FAILED,
    FEED_STATES,
    STOPPED,
    ListingSnapshot,
    SourceSnapshot,
)
from app.domain.pair_state import LIVE, PAIR_STATES, SILENT, PairState
from app.domain.time_grid import seconds_to_ms


class _Link:
    """One connection of a feed: its state and since when it carries the feed."""

    __slots__ = ("connected_since", "state")

    def __init__(self) -> None:
        self.state = CONNECTING
        self.connected_since: float | None = None


class SourceStatus:
    """The running account of one feed; plain counters, as the pipeline is one OS thread."""

    def __init__(self, name: str, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._clock = clock
        self._stopped = True
        self._failed = False
        self._links: dict[int, _Link] = {}
        self._last_message_at: float | None = None
        self._messages = 0
        self._ticks = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._last_exchange_error: str | None = None
        self._decode_errors: dict[str, int] = {}
        self._duplicates = 0
        self._recovered = 0
        self._resubscribes = 0
        self._clock_skew: ClockSkew | None = None
        self._pairs: dict[str, PairState] = {}
        self._changed: set[str] = set()
        self._listing: ListingSnapshot | None = None

    # -- the connection ------------------------------------------------------

    def link(self, number: int) -> "LinkStatus":
        """What connection ``number`` of the feed reports through (a feed of one connection uses 0)."""
        return LinkStatus(self, number)

    def unlink(self, number: int) -> None:
        """Connection ``number`` is closed for good (its symbols went elsewhere, or none are left)."""
        self._links.pop(number, None)

    def _link(self, number: int) -> _Link:
        self._stopped = False
        return self._links.setdefault(number, _Link())

    def connecting(self, link: int = 0) -> None:
        self._failed = False
        self._link(link).state = CONNECTING

    def connected(self, at: float, link: int = 0) -> None:
        """A connection carries the feed from ``at`` (a planned reconnect's new connection too)."""
        state = self._link(link)
        state.state, state.connected_since = CONNECTED, at

    def disconnected(self, reason: str, link: int = 0) -> None:
        self._link(link).connected_since, self._last_error = None, reason

    def backing_off(self, link: int = 0) -> None:
        """The connection ended and the next attempt waits: one reconnect."""
        self._link(link).state = BACKING_OFF
        self._reconnects += 1

    def failed(self, error: str) -> None:
        """The source reads nothing (its code crashed, or the exchange refused every pair it follows): it shows
        ``failed`` until it connects again (``connecting``)."""
        self._failed, self._last_error = True, error

    def idle(self) -> None:
        """Nothing to read, by design (a feed that follows no symbol now): no connection, and no failure."""
        self._failed = False
        self._links.clear()

    def stopped(self) -> None:
        self._stopped, self._failed = True, False
        self._links.clear()

    def exchange_said(self, detail: str) -> None:
        self._last_exchange_error = detail

    # -- what it carried -----------------------------------------------------

    def received(self, messages: int, at: float) -> None:
        self._messages += messages
        self._last_message_at = at

    def decoded(self, ticks: int) -> None:
        self._ticks += ticks

    def rejected(self, reason: str) -> None:
        """A message or trade skipped, counted by why."""
        self._decode_errors[reason] = self._decode_errors.get(reason, 0) + 1

    def duplicate(self) -> None:
        self._duplicates += 1

    # -- live exchanges ------------------------------------------------------

    def measures_skew(self, skew: ClockSkew) -> None:
        """Marks the feed as a live exchange and names where its clock skew is measured."""
        self._clock_skew = skew

    def recovered(self, trades: int) -> None:
        self._recovered += trades

    def silent(self, symbols: Collection[str], among: Collection[str]) -> None:
        """Of ``among`` (one connection's live or silent pairs), ``symbols`` are silent while others trade; the
        rest trade again."""
        symbols = set(symbols)
        for symbol in among:
            state = self._pairs.get(symbol)
            if state is not None and state.state in (LIVE, SILENT):
                self.pairs([symbol], SILENT if symbol in symbols else LIVE)

    def resubscribed(self) -> None:
        self._resubscribes += 1

    def listing_fetched(self, symbols: int) -> None:
        """The exchange's listing was read: the feed follows ``symbols`` pairs of it."""
        self._listing = ListingSnapshot(symbols, self._clock(), None)

    def listing_failed(self, error: str) -> None:
        """The listing could not be read: the feed keeps the last one it had."""
        before = self._listing or ListingSnapshot(0, None, None)
        self._listing = ListingSnapshot(before.symbols, before.fetched_at, error)

    # -- its pairs -----------------------------------------------------------

    def pairs(self, symbols: Collection[str], state: str, detail: str = "") -> None:
        """These pairs stand at ``state`` from now (unchanged ones keep their time)."""
        now_ms = seconds_to_ms(self._clock())
        for symbol in symbols:
            before = self._pairs.get(symbol)
            if before is None or (before.state, before.detail) != (state, detail):
                self._pairs[symbol] = PairState(state, now_ms, detail)
                self._changed.add(symbol)

    def pair_states(self, symbols: Collection[str]) -> dict[str, PairState]:
        return {symbol: state for symbol in symbols if (state := self._pairs.get(symbol)) is not None}

    def changed_pairs(self) -> dict[str, PairState]:
        """The pairs whose state changed since the last call (what the catalogue publishes)."""
        changed = {symbol: self._pairs[symbol] for symbol in self._changed}
        self._changed.clear()
        return changed

    def _state(self) -> str:
        if self._failed:
            return FAILED
        if self._stopped:
            return STOPPED
        # A feed that holds no symbol now (a shard of a listing) has nothing to connect: it is as connected as it gets.
        states = [link.state for link in self._links.values()] or [CONNECTED]
        return min(states, key=FEED_STATES.index)

    def snapshot(self) -> SourceSnapshot:
        state = self._state()
        counts = dict.fromkeys(PAIR_STATES, 0)
        for pair in self._pairs.values():
            counts[pair.state] += 1
        since = [link.connected_since for link in self._links.values()]
        return SourceSnapshot(
            name=self.name,
            state=state,
            connected_since=max(since) if state == CONNECTED and since and None not in since else None,
            last_message_at=self._last_message_at,
            messages=self._messages,
            ticks=self._ticks,
            reconnects=self._reconnects,
            last_error=self._last_error,
            last_exchange_error=self._last_exchange_error,
            decode_errors=dict(self._decode_errors),
            duplicates=self._duplicates,
            recovered=self._recovered,
            resubscribes=self._resubscribes,
            clock_skew=None if self._clock_skew is None else self._clock_skew.summary(),
            pairs=counts,
            connections_open=sum(1 for link in self._links.values() if link.state == CONNECTED),
            connections=len(self._links),
            listing=self._listing,
        )


class LinkStatus:
    """One connection of a feed, reporting to the feed's ``SourceStatus`` what the reconnect loop sees."""

    def __init__(self, feed: SourceStatus, number: int) -> None:
        self.name = feed.name
        self._feed = feed
        self._number = number

    def connecting(self) -> None:
        self._feed.connecting(self._number)

    def connected(self, at: float) -> None:
        self._feed.connected(at, self._number)

    def disconnected(self, reason: str) -> None:
        self._feed.disconnected(reason, self._number)

    def backing_off(self) -> None:
        self._feed.backing_off(self._number)
