"""Every pair the feeds follow, and where each stands: what ``/symbols`` answers, the same on every worker.

Each process publishes the pairs of the feeds it reads (``PairRegistry``):
their states as their feeds report them, and how many trades each carried
since the last publication and the latest one's time (counted as ticks pass
by, a ``TickObserver``). Every process reads the states back whenever one
changed anywhere, and learns the symbols of new listings from them, so a
query for a pair any feed follows is answered in every worker. Counts and
times are read per page, so a request costs the page it shows, never the
market. Owns one greenlet, every ``PUBLISH_SECONDS``.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import gevent

from app.application.modes import ModeService
from app.application.owned_loop import OwnedLoop
from app.application.ports.coordination import PairRegistry
from app.application.ports.storage import StorageUnavailable
from app.domain.errors import DomainError
from app.domain.feed_map import FeedMap
from app.domain.market import Market
from app.domain.pair_state import PAIR_STATES, PairActivity, PairState
from app.domain.tick import Tick

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 2.0
MAX_PAGE = 1000
UNSHARED = "Redis is unavailable: the states last read, this process's own changes since, and counts it could not share"


class PairChanges(Protocol):
    """The pairs of the feeds this process reads whose state changed since the last call, per feed."""

    def pair_changes(self) -> dict[str, dict[str, PairState]]: ...


class InvalidSymbolsRequest(DomainError):
    """A ``/symbols`` filter or page it can't have (a 400)."""


@dataclass(frozen=True)
class PairRow:
    exchange: str
    symbol: str
    state: PairState
    last_tick_ms: int | None
    ticks: int


@dataclass(frozen=True)
class PairPage:
    total: int
    rows: list[PairRow]
    partial: str | None = None


class PairCatalogue:
    def __init__(
        self,
        registry: PairRegistry,
        changes: PairChanges,
        feeds: FeedMap,
        market: Market,
        modes: ModeService,
    ) -> None:
        self._registry = registry
        self._changes = changes
        self._feeds = feeds
        self._market = market
        self._modes = modes
        self._loop = OwnedLoop(self._publish_forever)
        # Every pair's state, per exchange: as last read from the registry, and what this process published since.
        self._states: dict[str, dict[str, PairState]] = {}
        self._version = -1
        # Trades seen here since the last cycle, per (exchange, symbol): how many and the latest's time.
        self._seen: dict[tuple[str, str], list[int]] = {}
        # What this process has not published yet (Redis did not answer): states, and trades added up.
        self._unpublished: dict[str, dict[str, PairState]] = {}
        self._unsent: dict[str, dict[str, PairActivity]] = {}
        self._shared = True

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    # -- fed by the pipeline ---------------------------------------------

    def observe(self, ticks: list[Tick]) -> None:
        seen = self._seen
        for tick in ticks:
            pair = seen.get((tick.exchange, tick.symbol))
            if pair is None:
                seen[tick.exchange, tick.symbol] = [1, tick.ts_ms]
            else:
                pair[0] += 1
                pair[1] = max(pair[1], tick.ts_ms)

    # -- publishing and reading back -------------------------------------

    def _publish_forever(self) -> None:
        while True:
            try:
                self.cycle()
            except Exception:  # a bug here must not stop /symbols from ever refreshing
                log.exception("pair catalogue cycle failed")
            gevent.sleep(PUBLISH_SECONDS)

    def cycle(self) -> None:
        """Publish what changed here, then reload the states if anything changed anywhere."""
        for feed, changed in self._changes.pair_changes().items():
            exchange = self._feeds.exchange_of(feed)
            self._unpublished.setdefault(exchange, {}).update(changed)
            self._states.setdefault(exchange, {}).update(changed)
            self._market.learn(changed)
        seen, self._seen = self._seen, {}
        for (exchange, symbol), (ticks, last_ms) in seen.items():
            self._unsent.setdefault(exchange, {})[symbol] = _added(
                self._unsent.get(exchange, {}).get(symbol), PairActivity(ticks, last_ms)
            )
        try:
            for exchange in sorted(self._unpublished.keys() | self._unsent.keys()):
                self._registry.publish(exchange, self._unpublished.get(exchange, {}), self._unsent.get(exchange, {}))
                self._unpublished.pop(exchange, None)  # published: never sent twice
                self._unsent.pop(exchange, None)
            version = self._registry.version()
            if version != self._version:
                self._states, self._version = self._registry.states(), version
                for pairs in self._states.values():
                    self._market.learn(pairs)
            self._shared = True
        except StorageUnavailable:  # what was not published waits for Redis, and is published once (added up)
            self._shared = False
            self._version = -1

    # -- /symbols ----------------------------------------------------------

    def page(self, exchange: str | None, q: str, state: str | None, limit: int, offset: int) -> PairPage:
        """The pairs of the mode's exchanges (or ``exchange``) whose symbol holds ``q``, in ``state`` if given, by
        exchange then symbol: ``limit`` of them from ``offset``, and how many there are."""
        if state is not None and state not in PAIR_STATES:
            raise InvalidSymbolsRequest(f"state must be one of {', '.join(PAIR_STATES)}, got {state[:40]!r}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidSymbolsRequest(f"limit must be from 1 to {MAX_PAGE}, got {limit}")
        if offset < 0:
            raise InvalidSymbolsRequest(f"offset must be 0 or more, got {offset}")
        exchanges = [self._market.exchange(exchange)] if exchange else self._modes.exchanges()
        needle = q.strip().upper()
        matching = [
            (name, symbol, pair)
            for name in exchanges
            for symbol, pair in sorted(self._states.get(name, {}).items())
            if needle in symbol and (state is None or pair.state == state)
        ]
        shown = matching[offset : offset + limit]
        activity = self._activity(shown)
        rows = [
            PairRow(name, symbol, pair_state, activity[name, symbol].last_ms, activity[name, symbol].ticks)
            for name, symbol, pair_state in shown
        ]
        return PairPage(len(matching), rows, None if self._shared else UNSHARED)

    def _activity(self, shown: Iterable[tuple[str, str, PairState]]) -> dict[tuple[str, str], PairActivity]:
        by_exchange: dict[str, list[str]] = {}
        for name, symbol, _ in shown:
            by_exchange.setdefault(name, []).append(symbol)
        found: dict[tuple[str, str], PairActivity] = {}
        for name, symbols in by_exchange.items():
            try:
                shared = self._registry.activity(name, symbols)
            except StorageUnavailable:
                self._shared = False
                shared = {}
            for symbol in symbols:
                found[name, symbol] = _added(shared.get(symbol), self._unsent.get(name, {}).get(symbol))
        return found


def _added(one: PairActivity | None, other: PairActivity | None) -> PairActivity:
    """Two counts of one pair's trades, as one."""
    if one is None or other is None:
        return one or other or PairActivity(0, None)
    lasts = [ms for ms in (one.last_ms, other.last_ms) if ms is not None]
    return PairActivity(one.ticks + other.ticks, max(lasts) if lasts else None)
