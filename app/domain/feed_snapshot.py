"""One feed at one moment, as /health, the heartbeat and /metrics read it: its connection states and its snapshot.

The states are named here, once, so the feed's running account
(``SourceStatus``) and every reader comparing against them agree on the words.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from app.domain.clock_skew import SkewSummary

CONNECTING = "connecting"
CONNECTED = "connected"
BACKING_OFF = "backing_off"
FAILED = "failed"
STOPPED = "stopped"
FEED_STATES = (FAILED, BACKING_OFF, CONNECTING, STOPPED, CONNECTED)
"""Worst first: a feed is only as connected as its least connected link. ``failed``: the feed reads nothing
(its code crashed and runs again after a backoff, or the exchange refused every pair it follows);
``backing_off``: a connection ended and the next attempt waits; ``stopped``: not read here."""


@dataclass(frozen=True)
class ListingSnapshot:
    """The pairs a listing gave the feed, when it was last read, and why the latest read failed (None: it did not)."""

    symbols: int
    fetched_at: float | None
    error: str | None


@dataclass(frozen=True)
class SourceSnapshot:
    """One feed at one moment. Only a live exchange (a real one: ids, backfill and silence apply) measures its
    clock skew: ``clock_skew`` is None for any other feed."""

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
    # Live exchanges only: trades recovered over REST, resubscribes of silent symbols, and receive time minus
    # exchange time.
    recovered: int
    resubscribes: int
    clock_skew: SkewSummary | None
    # How many of its pairs stand where (``PAIR_STATES``), and its connections: open, and in all.
    pairs: Mapping[str, int]
    connections_open: int
    connections: int
    # A feed that follows its exchange's listing: how the last read went (None: a fixed list).
    listing: ListingSnapshot | None
