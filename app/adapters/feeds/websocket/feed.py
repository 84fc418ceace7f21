"""Live mode: one feed of a real exchange over WebSocket (websocket-client, under gevent).

A feed (an exchange, or one shard of a wide one) follows its ``Lineup``: a
fixed list, or what the exchange lists, fetched again every
``refresh_seconds``. Its symbols are spread over as many connections as the
exchange's limits need (``ExchangeProtocol.fits``, or the configured
``max_symbols_per_connection``): each connection fills up before the next
opens, and a symbol never moves between them. A new listing is subscribed
on a connection with room (or a new one) without touching the other
subscriptions; a delisted or halted pair is unsubscribed and shown as
``delisted`` (its stored minutes stay); a pair the exchange refused is not
asked for again while the listing keeps it. A connection left without
symbols is closed.

The feed owns its greenlets: one per connection (``ExchangeConnection``),
the listing's refresh (this one, ``run``'s own) and its backfill, which
recovers over REST what a reconnect lost (``Backfill``).
"""

import contextlib
import logging
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import gevent
from gevent.queue import Empty, Queue

from app.adapters.feeds.exchanges.base import ExchangeProtocol
from app.adapters.feeds.recovered import decode_recovered, encode_recovered, is_recovered
from app.adapters.feeds.websocket.connection import ExchangeConnection, WebSocketSettings
from app.adapters.feeds.websocket.listing import Lineup
from app.adapters.net.connector import Connector, Destination
from app.application.backfill import Backfill
from app.application.backoff import Backoff, ConnectPacer
from app.application.ports.feeds import Emit
from app.application.source_status import SourceStatus
from app.application.trade_continuity import TradeContinuity
from app.domain.clock_skew import ClockSkew
from app.domain.errors import InvalidTick
from app.domain.pair_state import DELISTED, REFUSED
from app.domain.tick import Decoded, RawTrade
from app.domain.time_grid import seconds_to_ms
from app.domain.validation import to_timestamp_ms

log = logging.getLogger(__name__)

# A listing that could not be fetched is tried again this soon (or at its refresh, if sooner).
LISTING_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class FeedLimits:
    """``per_connection``: the configured bound on symbols per connection (0: the exchange's own);
    ``age_limit``: the planned reconnect of each connection before the exchange's cut (None: none), staggered
    by ``stagger`` seconds per connection so that an exchange's connections never cut together."""

    per_connection: int
    age_limit: float | None
    stagger: float


class StaggerSlots:
    """The planned-reconnect slots of one exchange's connections in this process, shared by its shards."""

    def __init__(self, slots: int = 20) -> None:
        self._slots = slots
        self._next = 0

    def take(self) -> int:
        slot = self._next % self._slots
        self._next += 1
        return slot


# Why a connection was closed for good when the exchange refused every pair it held (/health's last_error), and
# why a feed left with no connection at all reads nothing (shown failed, so /health is degraded).
EMPTIED = "closed: the exchange refused every pair it held"
ALL_REFUSED = "the exchange refused every pair this feed follows: nothing to read"


class WebSocketFeed:
    def __init__(
        self,
        name: str,
        exchange: str,
        protocol: type[ExchangeProtocol],
        lineup: Lineup,
        settings: WebSocketSettings,
        limits: FeedLimits,
        connector: Connector,
        backoff: tuple[float, float],
        pacer: ConnectPacer,
        stagger: StaggerSlots,
        continuity: TradeContinuity,
        backfill: Backfill,
        skew: ClockSkew,
    ) -> None:
        self.name, self.exchange = name, exchange
        self._protocol = protocol
        self._decoder = protocol()
        self._lineup = lineup
        self._settings = settings
        self._limits = limits
        self._connector = connector
        self._backoff = backoff
        self._pacer = pacer
        self._stagger = stagger
        self._continuity = continuity
        self._backfill = backfill
        self._skew = skew
        self._missing = continuity.watch(name, exchange, sequential=protocol.sequential_ids)
        url = urlsplit(settings.url)
        tls = url.scheme == "wss"
        # Where every connection of the feed goes: one route for the proxy router to decide, named as the feed.
        self._destination = Destination(
            name,
            url.hostname or "",
            url.port or (443 if tls else 80),
            settings.connect_timeout,
            settings.tls if tls else None,
        )
        self._connections: dict[int, tuple[ExchangeConnection, gevent.Greenlet]] = {}
        self._emptied: Queue[int] = Queue()
        self._status: SourceStatus | None = None
        self._emit: Emit | None = None
        self.symbols: frozenset[str] = lineup.configured()

    def decode(self, raw: bytes) -> Iterator[Decoded]:
        """The protocol's trades, sampling clock skew on the way; recovered trades as they were recovered."""
        if is_recovered(raw):
            return decode_recovered(raw)
        return self._live(raw)

    def _live(self, raw: bytes) -> Iterator[Decoded]:
        received_ms = seconds_to_ms(time.time())
        for decoded in self._decoder.decode(raw):
            if not isinstance(decoded, InvalidTick):
                with contextlib.suppress(InvalidTick):  # counted when the tick is made
                    self._skew.add(received_ms, to_timestamp_ms(decoded[2]))
            yield decoded

    def run(self, emit: Emit, status: SourceStatus) -> None:
        status.measures_skew(self._skew)
        self._continuity.started(self.name)
        self._status, self._emit = status, emit

        def emit_recovered(trades: list[RawTrade]) -> None:
            emit([encode_recovered(trades)])

        backfill = gevent.spawn(self._backfill.run, self._missing, emit_recovered, status)
        try:
            self._follow(status)
        finally:
            backfill.kill()
            gevent.killall([greenlet for _, greenlet in self._connections.values()])
            self._connections.clear()

    def _follow(self, status: SourceStatus) -> None:
        """Follow the lineup: once for a fixed list, every refresh for a listing (until killed)."""
        discovery = self._lineup.discovery
        chosen = self._lineup.configured()
        if discovery is None:
            self._follow_symbols(chosen)
            self._close_emptied(None)
        while True:
            try:
                chosen = self._lineup.listed()
                status.listing_fetched(len(chosen))
                wait = discovery.refresh_seconds
            except OSError as exc:
                status.listing_failed(f"{type(exc).__name__}: {exc}"[:300])
                log.warning(
                    "listing unavailable: keeping the last one", extra={"exchange": self.name, "error": str(exc)}
                )
                wait = min(LISTING_RETRY_SECONDS, discovery.refresh_seconds)
            self._follow_symbols(chosen)
            self._close_emptied(wait)

    def _follow_symbols(self, wanted: frozenset[str]) -> None:
        status = self._status
        held = {symbol for connection, _ in self._connections.values() for symbol in connection.symbols}
        refused = {s for s, pair in status.pair_states(wanted).items() if pair.state == REFUSED}
        gone = sorted(self.symbols - wanted)
        new = sorted(wanted - held - refused)
        self.symbols = wanted
        if gone:
            log.info("pairs no longer listed: unsubscribing", extra={"exchange": self.name, "symbols": len(gone)})
            status.pairs(gone, DELISTED)
            self._drop(gone)
        if new:
            self._place(new)
        self._without_connections()

    def _without_connections(self) -> None:
        """A feed left with no connection reads nothing: by design when it follows no symbol (a shard of a listing),
        a failure when the exchange refused every one it follows (shown, so /health is degraded)."""
        if self._connections:
            return
        self._status.idle()
        if self.symbols:
            self._status.failed(ALL_REFUSED)

    def _drop(self, symbols: Collection[str]) -> None:
        for number, (connection, _) in list(self._connections.items()):
            connection.remove(symbols)
            if not connection.symbols:  # nothing left to read
                self._close(number)

    def _place(self, symbols: list[str]) -> None:
        """Each symbol on the first connection with room for it, in order; new connections for the rest."""
        per_connection = self._limits.per_connection
        placed: dict[int, list[str]] = {}
        for symbol in symbols:
            number = next(
                (
                    n
                    for n, (connection, _) in sorted(self._connections.items())
                    if self._protocol.fits([*connection.symbols, *placed.get(n, []), symbol], per_connection)
                ),
                None,
            )
            if number is None:
                number = self._open()
            placed.setdefault(number, []).append(symbol)
        for number, chosen in placed.items():
            self._connections[number][0].add(chosen)

    def _open(self) -> int:
        number = next(n for n in range(len(self._connections) + 1) if n not in self._connections)
        limits, settings = self._limits, self._settings
        age = None if limits.age_limit is None else limits.age_limit - self._stagger.take() * limits.stagger
        connection = ExchangeConnection(
            number,
            self._protocol(self._lineup.spellings),
            settings,
            self._connector,
            self._destination,
            Backoff(*self._backoff),
            self._pacer,
            self._continuity,
            self._status,
            age,
            self,
        )
        self._connections[number] = (connection, gevent.spawn(connection.run, self._emit))
        return number

    def emptied(self, number: int) -> None:
        """Connection ``number`` lost its last symbol to a refusal: the feed's own greenlet closes it."""
        self._emptied.put(number)

    def _close_emptied(self, seconds: float | None) -> None:
        """For ``seconds`` (None: for ever), close each connection that reports it has nothing left to read, if it
        still has nothing (a symbol placed on it meanwhile keeps it)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            try:
                number = self._emptied.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            except Empty:
                return
            found = self._connections.get(number)
            if found is not None and not found[0].symbols:
                log.info("every pair of a connection refused: closing it", extra={"exchange": self.name})
                self._status.disconnected(EMPTIED, number)
                self._close(number)
                self._without_connections()

    def _close(self, number: int) -> None:
        """Connection ``number`` closed, its greenlet with it."""
        _, greenlet = self._connections.pop(number)
        greenlet.kill()
        self._status.unlink(number)
