"""What one feed has been doing, told by the events that change it, read as one snapshot.

A source adapter, the ingestion workers and the backfill each report what
happened to the feed (connected, a read, a rejected line, a recovered trade)
through these methods; nobody sets a field. /health, the heartbeat and
/metrics read ``snapshot()``, so every view of a feed is taken at one moment.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from app.domain.clock_skew import ClockSkew


@dataclass(frozen=True)
class SourceSnapshot:
    """One feed at one moment. ``live`` (a real exchange): ids, backfill, silence and skew apply."""

    name: str
    state: str
    connected_since: float | None
    last_message_at: float | None
    messages: int
    ticks: int
    reconnects: int
    last_error: str | None
    # The exchange's own words (an error message it sent), kept apart so a later connection error can't hide them.
    last_exchange_error: str | None
    decode_errors: Mapping[str, int]
    # Trades dropped because their id had been seen already (a replay, an overlap, a backfill).
    duplicates: int
    live: bool
    # Live exchanges only: trades recovered over REST, symbols silent while others trade, their resubscribes,
    # and receive time minus exchange time (``p50_ms``, ``p99_ms``, ``last_ms``, ``flagged``).
    recovered: int
    silent_symbols: tuple[str, ...]
    resubscribes: int
    clock_skew: Mapping[str, object] | None


class SourceStatus:
    """The running account of one feed; plain counters, as the pipeline is one OS thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._state = "stopped"
        self._connected_since: float | None = None
        self._last_message_at: float | None = None
        self._messages = 0
        self._ticks = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._last_exchange_error: str | None = None
        self._decode_errors: dict[str, int] = {}
        self._duplicates = 0
        self._recovered = 0
        self._silent_symbols: tuple[str, ...] = ()
        self._resubscribes = 0
        self._clock_skew: ClockSkew | None = None

    # -- the connection ------------------------------------------------------

    def connecting(self) -> None:
        self._state = "connecting"

    def connected(self, at: float) -> None:
        """A connection carries the feed from ``at`` (a planned reconnect's new connection too)."""
        self._state, self._connected_since = "connected", at

    def disconnected(self, reason: str) -> None:
        self._connected_since, self._last_error = None, reason

    def backing_off(self) -> None:
        """The connection ended and the next attempt waits: one reconnect."""
        self._state = "backing_off"
        self._reconnects += 1

    def failed(self, error: str) -> None:
        """The source itself crashed: it stays down until it is attached again."""
        self._state, self._last_error = "failed", error

    def stopped(self) -> None:
        self._state, self._connected_since = "stopped", None

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

    def silent(self, symbols: list[str]) -> None:
        self._silent_symbols = tuple(symbols)

    def resubscribed(self) -> None:
        self._resubscribes += 1

    def snapshot(self) -> SourceSnapshot:
        return SourceSnapshot(
            name=self.name,
            state=self._state,
            connected_since=self._connected_since,
            last_message_at=self._last_message_at,
            messages=self._messages,
            ticks=self._ticks,
            reconnects=self._reconnects,
            last_error=self._last_error,
            last_exchange_error=self._last_exchange_error,
            decode_errors=dict(self._decode_errors),
            duplicates=self._duplicates,
            live=self._clock_skew is not None,
            recovered=self._recovered,
            silent_symbols=self._silent_symbols,
            resubscribes=self._resubscribes,
            clock_skew=None if self._clock_skew is None else self._clock_skew.summary(),
        )
