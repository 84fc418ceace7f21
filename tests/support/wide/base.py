"""What every wide exchange shares: its listing, its connections, the limits it enforces, its trades and REST.

A ``WideExchange`` is one loopback exchange a test drives: a WebSocket server
on its documented path and a REST server, each on a free port of 127.0.0.1,
with threads of their own. The test changes the listing while clients run,
pushes trades to exactly the connections subscribed to them, and reads back
what the exchange saw: its connections and their subscriptions, every
handshake, every refusal (in the exchange's own words) and every broken
limit (``violations``: a correct client causes none).

Each exchange subclass says how it spells a trade topic, how it answers a
request, how a trade looks on its wire and in its REST history, and which
limits it keeps; this module has the machinery they share (per-connection
state, frame counting, rate windows, trade fan-out, the REST switches).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Self, TypedDict, Unpack
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tests.support.net import free_port, wait_for
from tests.support.wide.limits import SlidingWindow
from tests.support.wide.rest import Query, RestAnswer, RestServer, Route

TRADING, HALTED, DELISTED = "trading", "halted", "delisted"
# Quote currencies a symbol's base is split from when the test names no base and quote (longest match wins).
KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "USD", "EUR", "GBP", "TRY", "BTC", "ETH", "BNB")
# The frames a client sends that count as its messages: data, and the control frames of keep-alive.
COUNTED_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG)


def now_ms() -> int:
    return int(time.time() * 1000)


def compact(message: object) -> str:
    return json.dumps(message, separators=(",", ":"))


def parse_object(text: str) -> dict | None:
    """The JSON object a client sent, or None when it is not one."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


@dataclass
class Listed:
    """One market in the listing, in our spelling (``BTCUSDT``) with its base and quote currency."""

    symbol: str
    base: str
    quote: str
    status: str  # TRADING, HALTED or DELISTED
    listed_at_ms: int


@dataclass(frozen=True)
class Trade:
    trade_id: int
    price: str
    qty: str
    ts_ms: int


@dataclass(frozen=True)
class Violation:
    """A documented limit a client broke (or a request the exchange could not read)."""

    rule: str
    detail: str
    conn_id: str = ""


@dataclass(frozen=True)
class Refusal:
    """A topic the exchange refused, with the reason in its own words."""

    conn_id: str
    topic: str
    reason: str


@dataclass(frozen=True)
class Handshake:
    at: float  # time.monotonic()
    ip: str
    path: str
    status: int  # 101 when accepted


@dataclass(frozen=True)
class ConnectionInfo:
    """A snapshot of one open connection, for assertions."""

    conn_id: str
    ip: str
    path: str
    topics: frozenset[str]  # in the exchange's spelling
    symbols: frozenset[str]  # the trade topics among them, in ours
    requests: tuple[str, ...]  # every text message the client sent
    frames_in: int  # data, ping and pong frames from the client
    messages_out: int
    age: float


class Peer:
    """One client connection as the exchange sees it; exchanges that keep more per connection subclass it."""

    def __init__(self, ws: Socket, conn_id: str) -> None:
        self.ws = ws
        self.conn_id = conn_id
        self.ip: str = ws.remote_address[0]
        self.path = ""
        self.opened = time.monotonic()
        self.topics: set[str] = set()
        self.requests: list[str] = []
        self.frames_in = 0
        self.messages_out = 0
        self.last_heard = self.opened  # the last frame from the client
        self.last_sent = self.opened  # the last message to it
        self.last_data = self.opened  # the last trade pushed to it
        self.closing = False


class Socket(ServerConnection):
    """A server connection that shows its exchange every frame the client sends, control frames included.

    websockets answers pings and matches pongs by itself and hands only data
    messages to the handler, but Binance counts pings and pongs in its message
    rate: the exchange needs to see them. It sees each frame before the handler
    can read it, so a message past a limit is never acted on.
    """

    def __init__(self, exchange: WideExchange, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.exchange = exchange
        self.peer = exchange.new_peer(self)

    def process_event(self, event: Request | Frame) -> None:  # type: ignore[override]
        if isinstance(event, Frame) and event.opcode in COUNTED_OPCODES:
            self.exchange.heard(self.peer, event.opcode)
        super().process_event(event)


class Limits(TypedDict, total=False):
    """What every wide exchange takes besides its own options; each left out is the exchange's documented one
    (``default_handshake_limit``, ``default_rest_limits``) or, for ``history_keep_last``, all of its history.

    ``handshake_limit``: (attempts, seconds) per IP; ``rest_limits``: (requests, seconds) per REST path;
    ``history_keep_last``: how many of each symbol's latest trades its REST history still has.
    """

    handshake_limit: tuple[int, float]
    rest_limits: dict[str, tuple[int, float]]
    history_keep_last: int | None


class WideExchange:
    """One exchange on loopback: listing, WebSocket server with its limits, REST discovery and history.

    Subclasses set ``kind``, ``ws_path``, their documented limits, the REST answers for rate limits, and
    implement ``trade_topic``, ``symbol_of``, ``trade_message``, ``on_message`` and ``rest_routes``. One that
    takes options of its own passes the rest (``Limits``) on to ``__init__`` here.
    """

    kind: ClassVar[str]
    ws_path: ClassVar[str]
    # Whether the exchange has a halted state between trading and delisted.
    halt_supported: ClassVar[bool] = True
    rate_limited_status: ClassVar[int] = 429
    rate_limited_body: ClassVar[object]
    # The documented limits, which a test may shrink (``Limits``): handshakes per IP, requests per REST path.
    default_handshake_limit: ClassVar[tuple[int, float]]
    default_rest_limits: ClassVar[dict[str, tuple[int, float]]] = {}

    def __init__(self, **limits: Unpack[Limits]) -> None:
        handshake_limit = limits.get("handshake_limit", self.default_handshake_limit)
        rest_limits = limits.get("rest_limits", self.default_rest_limits)
        self.history_keep_last = limits.get("history_keep_last")
        self.violations: list[Violation] = []
        self.refusals: list[Refusal] = []
        self.handshakes: list[Handshake] = []
        self.rest_requests: Counter[str] = Counter()
        self.rest_log: list[tuple[str, Query]] = []
        # 429 (Bybit: 403) with this Retry-After in seconds while non-zero; True means 1 s.
        self.rest_rate_limited: int = 0
        self._rest_down: bool | str = False
        self._lock = threading.RLock()
        self._listing: dict[str, Listed] = {}
        self._books: dict[str, list[Trade]] = {}
        self._sent: Counter[str] = Counter()
        self._peers: list[Peer] = []
        self._handshake_windows: defaultdict[str, SlidingWindow] = defaultdict(lambda: SlidingWindow(*handshake_limit))
        self._rest_windows = {path: SlidingWindow(*limit) for path, limit in rest_limits.items()}
        self._server = serve(
            self._serve,
            "127.0.0.1",
            free_port(),
            process_request=self._gate,
            create_connection=self._new_socket,  # type: ignore[arg-type]
            ping_interval=None,  # keep-alive is the exchange's own (see each subclass)
            compression=None,
            max_size=2**22,  # sizes are each exchange's rule, checked on the message
            close_timeout=2,
        )
        self.port: int = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, name=f"wide-{self.kind}-ws", daemon=True).start()
        self._rest = RestServer(free_port(), self._answer_rest)

    # ---- what a test sees and does -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket endpoint, on the exchange's documented path."""
        return f"ws://127.0.0.1:{self.port}{self.ws_path}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self._rest.port}"

    @property
    def rest_down(self) -> bool | str:
        """True: every REST request gets 503; ``"refused"``: nothing listens (connection refused); False: up."""
        return self._rest_down

    @rest_down.setter
    def rest_down(self, value: bool | str) -> None:
        if value == "refused" and self._rest_down != "refused":
            self._rest.stop()
        elif value != "refused" and self._rest_down == "refused":
            self._rest.start()
        self._rest_down = value

    def list(self, symbol: str, base: str | None = None, quote: str | None = None, *, status: str = TRADING) -> None:
        """List ``symbol`` (our spelling) or change its status; base and quote default to a split at a known quote."""
        if status not in (TRADING, HALTED):
            raise ValueError(f"list() takes {TRADING!r} or {HALTED!r}; use delist() to delist")
        if status == HALTED and not self.halt_supported:
            raise ValueError(f"{self.kind} has no halted state")
        if base is None or quote is None:
            base, quote = split_symbol(symbol)
        with self._lock:
            listed = Listed(symbol, base, quote, status, now_ms())
            self._listing[symbol] = listed
        self.on_listing_change(listed)

    def delist(self, symbol: str) -> None:
        """Delist: how it shows depends on the exchange (Binance BREAK, Coinbase status, others drop it)."""
        self._set_status(symbol, DELISTED)

    def halt(self, symbol: str) -> None:
        """Halt trading, where the exchange has such a state (Binance HALT, OKX suspend, ...)."""
        if not self.halt_supported:
            raise ValueError(f"{self.kind} has no halted state")
        self._set_status(symbol, HALTED)

    def listing(self) -> dict[str, Listed]:
        with self._lock:
            return dict(self._listing)

    def trade(self, symbol: str, price: str, ts_ms: int, qty: str = "0.001", trade_id: int | None = None) -> int:
        """One trade of ``symbol``, sent to every connection subscribed to it; returns how many it reached.

        Trade ids count up by one per symbol unless given. The trade goes into the
        symbol's REST history whether or not anyone is subscribed, as on a real exchange.
        """
        with self._lock:
            listed = self._listing.get(symbol)
            if listed is None or listed.status != TRADING:
                raise ValueError(f"{symbol} is not trading on {self.kind}: a market that doesn't trade has no trades")
            book = self._books.setdefault(symbol, [])
            if trade_id is None:
                trade_id = book[-1].trade_id + 1 if book else 1
            made = Trade(trade_id, str(price), str(qty), ts_ms)
            book.append(made)
            topic = self.trade_topic(listed)
            targets = [peer for peer in self._peers if topic in peer.topics and not peer.closing]
        message = self.trade_message(listed, made)
        reached = sum(self.send(peer, message, data=True) for peer in targets)
        if reached:
            with self._lock:
                self._sent[symbol] += 1
        return reached

    def trades_sent(self, symbol: str) -> int:
        """How many distinct trades of ``symbol`` reached at least one connection (a client must count each once)."""
        with self._lock:
            return self._sent[symbol]

    def connections(self) -> list[ConnectionInfo]:
        now = time.monotonic()
        with self._lock:
            return [
                ConnectionInfo(
                    peer.conn_id,
                    peer.ip,
                    peer.path,
                    frozenset(peer.topics),
                    frozenset(self._symbols(peer.topics)),
                    tuple(peer.requests),
                    peer.frames_in,
                    peer.messages_out,
                    now - peer.opened,
                )
                for peer in self._peers
                if not peer.closing
            ]

    def subscribed(self) -> set[str]:
        """Our symbols subscribed (to trades) on any open connection."""
        with self._lock:
            return self._symbols(topic for peer in self._peers if not peer.closing for topic in peer.topics)

    def wait_subscribed(self, symbols: set[str] | list[str], timeout: float = 10.0) -> None:
        wanted = set(symbols)
        wait_for(lambda: wanted <= self.subscribed(), timeout, message=f"{self.kind} subscriptions to {wanted}")

    def close_connections(self, code: int = 1001, reason: str = "going away") -> None:
        for peer in self._open_peers():
            self.close_peer(peer, code, reason)

    def drop_connections(self) -> None:
        """Cut every TCP connection without a close frame."""
        for peer in self._open_peers():
            peer.closing = True
            with contextlib.suppress(OSError):
                peer.ws.socket.shutdown(socket.SHUT_RDWR)
            peer.ws.socket.close()

    def close(self) -> None:
        self._server.shutdown()
        self._rest.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- for the exchange subclasses ------------------------------------------------------------------------

    def trade_topic(self, listed: Listed) -> str:
        """The exchange's name for the trade topic of a listed market, as kept in ``Peer.topics``."""
        raise NotImplementedError

    def symbol_of(self, topic: str) -> str | None:
        """Our symbol for one of the exchange's trade topics (listed or not), None for any other topic."""
        raise NotImplementedError

    def trade_message(self, listed: Listed, trade: Trade) -> str | dict:
        raise NotImplementedError

    def on_message(self, peer: Peer, text: str) -> None:
        """Answer one text message from the client."""
        raise NotImplementedError

    def rest_routes(self) -> dict[str, Route]:
        raise NotImplementedError

    def new_peer(self, ws: Socket) -> Peer:
        return Peer(ws, self.new_conn_id())

    def new_conn_id(self) -> str:
        return uuid.uuid4().hex[:8]

    def admit(self, ws: ServerConnection, ip: str) -> Response | None:
        """A last word on a handshake that passed the path and rate checks (None: accept)."""
        return None

    def on_frame(self, peer: Peer, opcode: Opcode, now: float) -> None:
        """Called from the connection's reading thread for each counted frame, before the handler sees it."""

    def tick(self, peer: Peer, now: float) -> float:
        """Do what is due on a connection (keep-alive, idle limits); returns when to be called next."""
        return math.inf

    def on_listing_change(self, listed: Listed) -> None:
        """Push a listing change where the exchange has a channel for it."""

    def encode(self, peer: Peer, message: str | dict) -> str:
        return message if isinstance(message, str) else compact(message)

    def send(self, peer: Peer, message: str | dict, *, data: bool = False) -> bool:
        """Send one message; False when the connection is gone. ``data``: a trade, which some idle rules watch."""
        try:
            peer.ws.send(self.encode(peer, message))
        except (ConnectionClosed, OSError):
            return False
        now = time.monotonic()
        peer.messages_out += 1
        peer.last_sent = now
        if data:
            peer.last_data = now
        return True

    def broadcast(self, message: str | dict) -> None:
        for peer in self._open_peers():
            self.send(peer, message)

    def violate(self, rule: str, detail: str, peer: Peer | None = None) -> None:
        with self._lock:
            self.violations.append(Violation(rule, detail, peer.conn_id if peer else ""))

    def refuse(self, peer: Peer, topic: str, reason: str) -> None:
        with self._lock:
            self.refusals.append(Refusal(peer.conn_id, topic, reason))

    def close_peer(self, peer: Peer, code: int, reason: str) -> None:
        """Close one connection with a close frame, from a thread of its own.

        The closing handshake waits for the connection's reading thread, which
        may be the caller (a frame past a limit): closing inline could wait on itself.
        """
        peer.closing = True
        threading.Thread(target=peer.ws.close, args=(code, reason), daemon=True).start()

    def add_topics(self, peer: Peer, topics: set[str] | list[str]) -> None:
        with self._lock:
            peer.topics.update(topics)

    def remove_topics(self, peer: Peer, topics: set[str] | list[str]) -> None:
        with self._lock:
            peer.topics.difference_update(topics)

    def market(self, symbol: str) -> Listed | None:
        with self._lock:
            return self._listing.get(symbol)

    def markets(self) -> list[Listed]:
        """The listing in the order markets were first listed."""
        with self._lock:
            return list(self._listing.values())

    def history(self, symbol: str) -> list[Trade]:
        """The trades of ``symbol`` the REST history still has, oldest first."""
        with self._lock:
            book = list(self._books.get(symbol, []))
        return book if self.history_keep_last is None else book[-self.history_keep_last :]

    def recent_trades(self, symbol: str, count: int) -> list[Trade]:
        with self._lock:
            return list(self._books.get(symbol, []))[-count:] if count else []

    def hit(self, window: SlidingWindow, now: float) -> bool:
        """Count one event in a window that several connections' threads share."""
        with self._lock:
            return window.hit(now)

    def heard(self, peer: Peer, opcode: Opcode) -> None:
        now = time.monotonic()
        peer.frames_in += 1
        peer.last_heard = now
        self.on_frame(peer, opcode, now)

    # ---- the machinery ----------------------------------------------------------------------------------------

    def _set_status(self, symbol: str, status: str) -> None:
        with self._lock:
            listed = self._listing.get(symbol)
            if listed is None:
                raise KeyError(f"{symbol} was never listed on {self.kind}")
            listed.status = status
        self.on_listing_change(listed)

    def _symbols(self, topics: Iterable[str]) -> set[str]:
        return {symbol for topic in topics if (symbol := self.symbol_of(topic))}

    def _open_peers(self) -> list[Peer]:
        with self._lock:
            return [peer for peer in self._peers if not peer.closing]

    def _new_socket(self, *args: object, **kwargs: object) -> Socket:
        return Socket(self, *args, **kwargs)

    def _gate(self, ws: ServerConnection, request: Request) -> Response | None:
        """The handshake: the documented path, the attempts per IP, then the exchange's own word."""
        ip, now = ws.remote_address[0], time.monotonic()
        path = urlsplit(request.path).path
        window = self._handshake_windows[ip]
        response: Response | None = None
        if path != self.ws_path and not (self.ws_path == "/" and path == ""):
            self.violate("wrong_path", f"handshake on {request.path}, not {self.ws_path}")
            response = ws.respond(404, "Not Found\n")
        elif not self.hit(window, now):
            self.violate("handshake_rate", f"{ip}: over {window.limit} handshakes in {window.seconds:g}s")
            response = ws.respond(429, "Too Many Requests\n")
            response.headers["Retry-After"] = str(math.ceil(window.retry_after(now)))
        else:
            response = self.admit(ws, ip)
        with self._lock:
            self.handshakes.append(Handshake(now, ip, request.path, 101 if response is None else response.status_code))
        return response

    def _serve(self, ws: ServerConnection) -> None:
        """One connection's life: read messages, and between them do what ``tick`` says is due."""
        assert isinstance(ws, Socket)
        peer = ws.peer
        peer.path = ws.request.path if ws.request else ""
        with self._lock:
            self._peers.append(peer)
        try:
            due = self.tick(peer, time.monotonic())
            while True:
                wait = None if due == math.inf else max(0.0, due - time.monotonic())
                try:
                    message = ws.recv(timeout=wait)
                except TimeoutError:
                    pass
                else:
                    if not peer.closing:
                        self._handle(peer, message)
                if not peer.closing:
                    due = self.tick(peer, time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._peers.remove(peer)

    def _handle(self, peer: Peer, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.violate("bad_request", "a binary frame: every exchange here speaks text", peer)
            return
        with self._lock:
            peer.requests.append(message)
        self.on_message(peer, message)

    def _answer_rest(self, path: str, query: Query) -> RestAnswer:
        """The REST switches and limits, then the exchange's route for ``path``."""
        now = time.monotonic()
        with self._lock:
            self.rest_requests[path] += 1
            self.rest_log.append((path, query))
        if self._rest_down:
            return 503, {"error": "service unavailable"}, {}
        window = self._rest_windows.get(path)
        retry_after = int(self.rest_rate_limited)
        if window is not None and not self.hit(window, now):
            self.violate("rest_rate", f"{path}: over {window.limit} requests in {window.seconds:g}s")
            retry_after = max(retry_after, math.ceil(window.retry_after(now)))
        if retry_after:
            return self.rate_limited_status, self.rate_limited_body, {"Retry-After": str(retry_after)}
        route = self.rest_routes().get(path)
        if route is None:
            return 404, {"error": f"no such path on {self.kind}: {path}"}, {}
        return route(query)


def split_symbol(symbol: str) -> tuple[str, str]:
    """BTCUSDT -> (BTC, USDT) at the longest known quote currency; a test names base and quote for anything else."""
    for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"can't tell the quote currency of {symbol}: pass base and quote")
