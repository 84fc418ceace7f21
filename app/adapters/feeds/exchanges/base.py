"""What the WebSocket feed needs to know about one exchange: its limits, its messages, its listing.

A message is either data (handed raw to the pipeline, whose workers call
``decode``) or a control message the connection loop handles itself
(``Control``): acks of our subscribe and unsubscribe requests, refusals in
the exchange's own words, pongs, errors, and requests to reconnect.
``decode`` yields one ``(symbol, price, timestamp, quantity, trade_id)`` per
trade, with the symbol in our spelling, or an ``InvalidTick`` in place of a
trade it can't read, so one bad trade never hides the good ones after it in
the same message. A message it can't read at all raises ``InvalidTick``.

Each exchange declares the limits its connections live within (how many
symbols one connection may hold, how many one request may name, how far
apart our requests and new connections go), builds its subscribe and
unsubscribe requests within them, and reads its public listing over REST
(``listing``). It may also name its REST trade history (``history``), which
recovers what a stream missed.
"""

import ssl
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from app.adapters.feeds.exchanges.rest_history import ExchangeHistory
from app.adapters.feeds.exchanges.symbol_spelling import PairNames, PairSpelling
from app.adapters.net.connector import Connector
from app.adapters.net.rest_client import RestClient
from app.domain.tick import Decoded


@dataclass(frozen=True)
class Control:
    """What the connection loop does with a message that is not data.

    ``kind``: ``ack`` (a request, or some of its symbols, is in force), ``refused`` (the exchange refused a
    request, or some symbols of one, saying ``detail``), ``pong``, ``error`` (the exchange's words about the
    connection itself), ``reconnect`` or ``ignore``. ``request_id`` names our request where the exchange echoes
    it; ``symbols`` (ours) narrow an ack or a refusal to those symbols.
    """

    kind: str
    detail: str = ""
    request_id: str | None = None
    symbols: tuple[str, ...] = ()


# Sent on subscribe, a snapshot repeats recent history: counting it would count old trades again after a reconnect.
SNAPSHOT = Control("ignore", "snapshot of past trades")


def unrecognised(raw: str) -> Control:
    """A message none of the exchange's rules knows: ignored, with its start kept for the log."""
    return Control("ignore", raw[:80])


@dataclass(frozen=True)
class Request:
    """One message we send to change subscriptions: the symbols it names (ours), and its id where one is
    echoed back (None: the exchange acks by symbol, or in order)."""

    text: str
    symbols: tuple[str, ...]
    request_id: str | None
    subscribe: bool


@dataclass(frozen=True)
class Listed:
    """One pair as the exchange lists it: ours (``BTCUSDT``), its own spelling for subscriptions, its quote."""

    symbol: str
    theirs: str
    quote: str
    trading: bool


class ExchangeProtocol:
    """One connection's view of an exchange; defaults suit a JSON protocol with server-side keep-alive.

    ``spellings`` maps our symbols to the exchange's where its listing said (else ``spelling`` derives them).
    """

    kind: ClassVar[str]
    default_url: ClassVar[str]
    # Send ``ping_payload`` this often (None: the server pings and the client answers).
    default_ping_interval: ClassVar[float | None] = None
    # A text message, or None for a WebSocket ping frame (what a ``ping_interval_seconds`` sends to
    # an exchange like Binance, that keeps connections alive with ping/pong frames only).
    ping_payload: ClassVar[str | None] = None
    # Reconnect before the exchange cuts a connection this old (None: no cut).
    max_connection_age: ClassVar[float | None] = None
    # Whether trade ids count up by one per trade of a symbol, so a jump shows trades missed, and how many.
    sequential_ids: ClassVar[bool] = False
    # Its public trade history over REST (None: what a stream misses is recorded as lost).
    history: ClassVar[type[ExchangeHistory] | None] = None
    # Its public REST API: the documented base, and how far apart our requests to it go.
    rest_base: ClassVar[str]
    rest_interval: ClassVar[float] = 0.2
    # The limits of one connection: symbols it holds, symbols and bytes per request, seconds between our requests,
    # requests an hour (None: no budget); whether one request must be answered before the next is sent (an
    # exchange whose acks name neither a request nor a symbol). And the least time between new connections.
    max_symbols_per_connection: ClassVar[int]
    max_symbols_per_request: ClassVar[int]
    max_request_bytes: ClassVar[int] = 60_000
    request_interval: ClassVar[float] = 0.5
    requests_per_hour: ClassVar[int | None] = None
    one_request_at_a_time: ClassVar[bool] = False
    # Whether the exchange answers each symbol of a request on its own (so an answer naming some settles only those).
    acks_per_symbol: ClassVar[bool] = False
    connect_interval: ClassVar[float] = 1.0
    # How the exchange writes a pair, for symbols its listing did not spell (None: as we do).
    spelling: ClassVar[PairSpelling | None] = None

    def __init__(self, spellings: Mapping[str, str] | None = None) -> None:
        self._names = self.names({} if spellings is None else spellings)
        self._next_id = 0

    # -- limits -----------------------------------------------------------

    @classmethod
    def fits(cls, symbols: Collection[str], cap: int) -> bool:
        """Whether one connection may hold ``symbols`` (``cap``: the configured bound, or 0 for ours)."""
        return len(symbols) <= (cap or cls.max_symbols_per_connection)

    @classmethod
    def connection_bound(cls) -> str:
        """What ``fits`` holds a connection to, in words, for the configuration reference."""
        return f"{cls.max_symbols_per_connection:,}"

    # -- requests ---------------------------------------------------------

    @classmethod
    def names(cls, listed: Mapping[str, str]) -> PairNames:
        """Our symbols in this exchange's spelling: ``listed``'s where it has one, else ``spelling``'s."""
        return PairNames(listed, cls.spelling)

    def theirs(self, symbol: str) -> str:
        return self._names.theirs(symbol)

    def subscribe(self, symbols: Sequence[str]) -> list[Request]:
        return self._requests(symbols, subscribe=True)

    def unsubscribe(self, symbols: Sequence[str]) -> list[Request]:
        return self._requests(symbols, subscribe=False)

    def _requests(self, symbols: Sequence[str], subscribe: bool) -> list[Request]:
        """``symbols`` in as few requests as the exchange's limits allow, each with an id of this connection."""
        requests: list[Request] = []
        chunk: list[str] = []
        for symbol in symbols:
            longer = [*chunk, symbol]
            if chunk and (
                len(longer) > self.max_symbols_per_request
                or len(self.message(longer, "9" * 12, subscribe)) > self.max_request_bytes
            ):
                requests.append(self._request(chunk, subscribe))
                longer = [symbol]
            chunk = longer
        if chunk:
            requests.append(self._request(chunk, subscribe))
        return requests

    def _request(self, symbols: list[str], subscribe: bool) -> Request:
        self._next_id += 1
        request_id = str(self._next_id)
        return Request(self.message(symbols, request_id, subscribe), tuple(symbols), request_id, subscribe)

    def message(self, symbols: Sequence[str], request_id: str, subscribe: bool) -> str:
        """The exchange's subscribe (or unsubscribe) message for ``symbols``."""
        raise NotImplementedError

    def opening(self) -> list[Request]:
        """What a new connection asks for before any symbol (Coinbase: its heartbeats channel), acked alike."""
        return []

    # -- what comes back --------------------------------------------------

    def control(self, raw: str) -> Control | None:
        """``None`` for data, else what the connection loop should do with it."""
        raise NotImplementedError

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        raise NotImplementedError

    # -- REST -------------------------------------------------------------

    @classmethod
    def rest_client(
        cls, name: str, rest_url: str, connector: Connector, timeout: float, tls: ssl.SSLContext
    ) -> RestClient:
        """Exchange ``name``'s REST client at ``rest_url`` (or the documented base), for its history and listing.

        It has a name of its own for the proxy router (``<name> rest``): it follows the same proxy settings as
        the stream without taking over the stream's route state or its direct probes.
        """
        return RestClient(f"{name} rest", rest_url or cls.rest_base, connector, timeout, tls, cls.rest_interval)

    @classmethod
    def trade_history(cls, name: str, client: RestClient, listed: Mapping[str, str]) -> ExchangeHistory | None:
        """Exchange ``name``'s history over ``client``, or None for an exchange without one here; it asks for a
        pair as ``listed`` (the listing's spellings, kept current) writes it, as the stream does."""
        return None if cls.history is None else cls.history(name, client, cls.names(listed))

    @classmethod
    def listing(cls, client: RestClient) -> list[Listed]:
        """Every spot pair the exchange lists now, trading or not; raises ``OSError`` when it can't be asked."""
        raise NotImplementedError
