"""One connection's subscriptions: what it should hold, what it asked for, and what the exchange answered.

Bookkeeping only (no socket, no clock of its own): the connection tells it
what it sent and what came back, and asks it what to send next. Requests go
out paced by the exchange's limits: ``request_interval`` apart, within an
hourly budget where the exchange has one (OKX), and one at a time where its
acks name neither a request nor a symbol (Coinbase). Every symbol asked for
is settled by the exchange's answer: acknowledged, or refused in its own
words (then dropped: never asked for again in a loop). What a refusal of a
whole request leaves unsaid (the other symbols of a request that named some)
is asked for again on its own; an exchange that was already holding them says
so, which settles them too.
"""

from collections import OrderedDict, deque
from collections.abc import Collection
from dataclasses import dataclass, field

from app.adapters.feeds.exchanges.base import Control, ExchangeProtocol, Request
from app.domain.pair_state import LIVE, REFUSED, SUBSCRIBING
from app.domain.time_grid import SECONDS_PER_HOUR


@dataclass
class _InFlight:
    request: Request
    sent_at: float
    # Its symbols not yet settled by an answer.
    open: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Settled:
    """A pair's new state (``PAIR_STATES``), and the exchange's words for a refusal."""

    symbol: str
    state: str
    detail: str = ""


class Subscriptions:
    def __init__(self, protocol: ExchangeProtocol) -> None:
        self._protocol = protocol
        self.wanted: set[str] = set()
        self.live: set[str] = set()
        # Whether a socket is open: requests are built for it only (a new one asks for everything wanted).
        self._open = False
        self._outbox: deque[Request] = deque()
        self._in_flight: OrderedDict[str, _InFlight] = OrderedDict()
        self._keys = 0
        self._last_sent = float("-inf")
        self._budget = float(protocol.requests_per_hour or 0)
        self._budget_at = float("-inf")

    # -- what the feed wants ----------------------------------------------

    def add(self, symbols: Collection[str]) -> list[Settled]:
        new = sorted(set(symbols) - self.wanted)
        self.wanted.update(new)
        if self._open:
            self._outbox.extend(self._protocol.subscribe(new))
        return [Settled(symbol, SUBSCRIBING) for symbol in new]

    def remove(self, symbols: Collection[str]) -> None:
        """Stop holding ``symbols``: those asked for or held are unsubscribed (a subscribe still queued is not
        sent at all)."""
        gone = set(symbols) & self.wanted
        if not gone:
            return
        if not self._open:
            self.wanted -= gone
            return
        self.wanted -= gone
        queued = [r for r in self._outbox if r.subscribe]
        self._outbox = deque(r for r in self._outbox if not r.subscribe)
        for request in queued:
            kept = [symbol for symbol in request.symbols if symbol not in gone]
            self._outbox.extend(self._protocol.subscribe(kept))
        asked = {symbol for flight in self._in_flight.values() for symbol in flight.request.symbols}
        held = sorted(gone & (self.live | asked))
        self.live -= gone
        self._outbox.extend(self._protocol.unsubscribe(held))

    def resubscribe(self, symbols: Collection[str]) -> None:
        """Ask again for held symbols that fell silent (the exchange may have dropped them)."""
        self._outbox.extend(self._protocol.subscribe(sorted(set(symbols) & self.live)))

    # -- a new socket ------------------------------------------------------

    def restart(self) -> list[Settled]:
        """A new socket holds nothing yet: everything wanted is asked for again, after its opening requests."""
        self._open = True
        self.live.clear()
        self._in_flight.clear()
        self._outbox = deque([*self._protocol.opening(), *self._protocol.subscribe(sorted(self.wanted))])
        self._last_sent = float("-inf")
        return [Settled(symbol, SUBSCRIBING) for symbol in sorted(self.wanted)]

    def closed(self) -> None:
        """The socket is gone, and what it held with it."""
        self._open = False
        self.live.clear()
        self._in_flight.clear()
        self._outbox.clear()

    # -- sending -----------------------------------------------------------

    def due(self, now: float) -> Request | None:
        """The next request, if the exchange's pacing lets it go now."""
        if not self._outbox or now - self._last_sent < self._protocol.request_interval:
            return None
        if self._protocol.one_request_at_a_time and self._in_flight:
            return None
        per_hour = self._protocol.requests_per_hour
        if per_hour:
            self._budget = min(per_hour, self._budget + (now - self._budget_at) * per_hour / SECONDS_PER_HOUR)
            self._budget_at = now
            if self._budget < 1:
                return None
        return self._outbox[0]

    def sent(self, request: Request, now: float) -> None:
        self._outbox.popleft()
        self._last_sent = now
        if self._protocol.requests_per_hour:
            self._budget -= 1
        self._keys += 1
        key = request.request_id or f"#{self._keys}"
        self._in_flight[key] = _InFlight(request, now, set(request.symbols))

    def overdue(self, now: float, timeout: float) -> float | None:
        """How long the oldest unanswered request has waited, when that is past ``timeout``."""
        oldest = next(iter(self._in_flight.values()), None)
        if oldest is None or now - oldest.sent_at <= timeout:
            return None
        return now - oldest.sent_at

    # -- answers -----------------------------------------------------------

    def answer(self, control: Control) -> list[Settled]:
        """Settle what an ack or a refusal covers; returns the pairs whose state it changed."""
        key = self._flight_of(control)
        if key is None:
            return []
        flight = self._in_flight[key]
        named = set(control.symbols) & flight.open if control.symbols else set()
        refused = control.kind == "refused"
        if named and self._protocol.acks_per_symbol:
            flight.open -= named
            if not flight.open:
                del self._in_flight[key]
            return self._settle(flight.request, named, refused, control.detail)
        del self._in_flight[key]
        if refused and named:  # a request answered as a whole: the rest of it is asked for on its own
            self._outbox.extendleft(reversed(self._protocol.subscribe(sorted(flight.open - named))))
            return self._settle(flight.request, named, True, control.detail)
        return self._settle(flight.request, flight.open, refused, control.detail)

    def _flight_of(self, control: Control) -> str | None:
        """The request an answer is about: named by its id, else the oldest holding a named symbol, else the
        oldest of all (an exchange that answers in order)."""
        if control.request_id is not None and control.request_id in self._in_flight:
            return control.request_id
        for key, flight in self._in_flight.items():
            if not control.symbols or flight.open & set(control.symbols):
                return key
        return None

    def _settle(self, request: Request, symbols: Collection[str], refused: bool, detail: str) -> list[Settled]:
        if not request.subscribe:  # an unsubscribe: whatever the answer, the symbols are not ours any more
            return []
        settled = []
        for symbol in sorted(symbols):
            if symbol not in self.wanted:  # dropped meanwhile
                continue
            if refused:
                self.wanted.discard(symbol)
                settled.append(Settled(symbol, REFUSED, detail))
            elif symbol not in self.live:  # a resubscribe of a held (silent) symbol changes nothing
                self.live.add(symbol)
                settled.append(Settled(symbol, LIVE))
        return settled
