"""Where one followed pair stands with its feed: what ``/symbols`` shows, and ``/health`` counts."""

from dataclasses import dataclass

SUBSCRIBING = "subscribing"
LIVE = "live"
SILENT = "silent"
REFUSED = "refused"
DELISTED = "delisted"
PAIR_STATES = (SUBSCRIBING, LIVE, SILENT, REFUSED, DELISTED)
"""``subscribing``: asked for, not yet in force (or a pushed feed's pair before its first trade); ``live``: in
force; ``silent``: in force but without a trade while others trade; ``refused``: the exchange refused it, in its
own words; ``delisted``: no longer listed as trading, unsubscribed (its stored minutes stay)."""


@dataclass(frozen=True, slots=True)
class PairState:
    state: str
    since_ms: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PairActivity:
    """A pair's trades: how many (added up over publications), and the latest one's time (None: none yet)."""

    ticks: int
    last_ms: int | None
