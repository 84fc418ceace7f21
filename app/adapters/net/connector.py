"""Opening a feed's connection: the one place that decides how bytes reach an exchange.

For each attempt the ``ProxyRouter`` lists the routes to try (direct and/or
proxies); for each route this opens TCP (for a proxy: our own HTTP CONNECT,
which never loses bytes that follow the proxy's reply, or SOCKS5 through
PySocks with the proxy resolving the exchange's name), adds TLS
when asked, and runs the caller's handshake. A route that fails anywhere in
that chain is reported to the router, so an exchange that refuses us at the
WebSocket handshake counts as unreachable that way, like a refused port.
"""

import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gevent import socket

from app.adapters.net.http_tunnel import open_tunnel
from app.application.proxy_routing import DIRECT, ProxyRouter, Route
from app.domain.proxy_endpoint import ProxyEndpoint
from app.domain.time_grid import SECONDS_PER_HOUR

log = logging.getLogger(__name__)


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


# When a rate limit gives no usable Retry-After, and the most we honour (Binance's IP bans can say days).
DEFAULT_RATE_LIMIT_WAIT = 60.0
MAX_RATE_LIMIT_WAIT = float(SECONDS_PER_HOUR)


class NoRoute(OSError):
    """Every route of this attempt failed, or the policy left none.

    ``retry_after`` is how long the exchange asked us to stay away (429/418), 0 if it didn't.
    """

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds a 429 or 418 answer's ``Retry-After`` asks for (60 when absent or not a number, at most an hour)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    try:
        wait = float(lowered["retry-after"])
    except (KeyError, ValueError):
        wait = DEFAULT_RATE_LIMIT_WAIT
    return min(max(wait, 0.0), MAX_RATE_LIMIT_WAIT)


def rate_limit_wait(exc: BaseException) -> float:
    """Seconds an HTTP 429 or 418 handshake answer asks us to wait; 0 for any other failure."""
    if getattr(exc, "status_code", None) not in (418, 429):
        return 0.0
    return retry_after(getattr(exc, "resp_headers", None) or {})


@dataclass(frozen=True)
class Destination:
    source: str
    host: str
    port: int
    timeout: float
    tls: ssl.SSLContext | None = None


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The system trust store, plus ``ca_file`` when given (a private or test CA)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


def _tcp(route: Route, host: str, port: int, timeout: float) -> socket.socket:
    if route is DIRECT:
        return socket.create_connection((host, port), timeout=timeout)
    if route.scheme == "http":
        return open_tunnel(route, host, port, timeout)
    # PySocks subclasses socket.socket when imported: import it only here, after
    # gevent's monkey patching, so its sockets are cooperative.
    import socks

    return socks.create_connection(
        (host, port),
        timeout=timeout,
        proxy_type=socks.SOCKS5,
        proxy_addr=route.host,
        proxy_port=route.port,
        proxy_rdns=True,
        proxy_username=route.username or None,
        proxy_password=route.password or None,
    )


def describe(route: Route) -> str:
    return "direct" if route is DIRECT else route.masked


def _attempt(route: Route, destination: Destination, handshake: Callable[[socket.socket], T]) -> T:
    """TCP, TLS when asked, then the caller's handshake; the socket is closed if any of it fails."""
    sock = None
    try:
        sock = _tcp(route, destination.host, destination.port, destination.timeout)
        if destination.tls is not None:
            sock = destination.tls.wrap_socket(sock, server_hostname=destination.host)
        return handshake(sock)
    except BaseException:
        if sock is not None:
            sock.close()  # also when the feed is being stopped mid-connect
        raise


class Connector:
    def __init__(self, router: ProxyRouter) -> None:
        self._router = router
        # Per source, how it last connected: what a direct probe repeats.
        self._opened: dict[str, tuple[Destination, Callable[[socket.socket], Closable]]] = {}

    def open(self, destination: Destination, handshake: Callable[[socket.socket], T]) -> T:
        """Try each route in turn; the first whose handshake succeeds wins (and is what a direct probe repeats).

        A feed's connection that a proxy carried has ended (or another opens beside it): when this attempt does
        not start at that proxy (rotation moves on), the proxy itself is checked first, so one that died under
        the connection is counted and benched rather than never heard of again.
        """
        last = self._router.carried(destination.source)
        routes = self._router.routes(destination.source)
        if last is not None and routes[:1] != [last] and not self._answers(destination.source, last, destination):
            routes = [route for route in routes if route != last]
        result = self._connect(destination, handshake, routes)
        self._opened[destination.source] = (destination, handshake)
        return result

    def exchange(self, destination: Destination, handshake: Callable[[socket.socket], T]) -> T:
        """Like ``open``, for a one-off exchange of bytes (a REST request) that a direct probe must not repeat."""
        return self._connect(destination, handshake, self._router.routes(destination.source))

    def _answers(self, source: str, proxy: ProxyEndpoint, destination: Destination) -> bool:
        """Whether ``proxy`` still accepts a TCP connection; if not, it is recorded as failed (and benched)."""
        try:
            socket.create_connection((proxy.host, proxy.port), timeout=min(destination.timeout, 2.0)).close()
        except OSError as exc:
            self._failed(source, proxy, describe(proxy), exc, "proxy gone")
            return False
        return True

    def _failed(
        self, source: str, route: Route, label: str, exc: Exception, said: str, level: int = logging.WARNING
    ) -> str:
        """Record that ``route`` failed ``source`` (the router benches a proxy) and log it; returns the error."""
        error = f"{label}: {type(exc).__name__}: {exc}"[:200]
        self._router.failed(source, route, error)
        log.log(level, said, extra={"exchange": source, "route": describe(route), "error": error})
        return error

    def _connect(self, destination: Destination, handshake: Callable[[socket.socket], T], routes: list[Route]) -> T:
        errors = []
        retry_after = 0.0
        for route in routes:
            try:
                result = _attempt(route, destination, handshake)
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    raise
                retry_after = max(retry_after, rate_limit_wait(exc))
                errors.append(self._failed(destination.source, route, describe(route), exc, "route failed"))
                continue
            self._router.succeeded(destination.source, route)
            return result
        if not routes:
            raise NoRoute(self._router.no_route())
        if retry_after:
            errors.append(f"rate limited: retry after {retry_after:g}s")
        raise NoRoute("; ".join(errors), retry_after)

    def probe_direct(self, source: str) -> bool:
        """Whether ``source``'s exchange can be reached directly now, without touching its live connection.

        Opens a connection of its own the way ``source`` last connected (TCP,
        TLS, the same handshake) and closes it at once, so a feed on a proxy
        moves back to direct only once direct works (``fallback``).
        """
        opened = self._opened.get(source)
        if opened is None:
            return False
        destination, handshake = opened
        try:
            _attempt(DIRECT, destination, handshake).close()
        except Exception as exc:
            self._failed(source, DIRECT, "direct probe", exc, "direct route still failing", logging.INFO)
            return False
        return True
