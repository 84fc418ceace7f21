"""The registered exchanges' own figures, in words, for the schema's keys whose default is "the exchange's own".

Each is read from the exchange classes (``REGISTERED``), so the README's configuration table follows an exchange
that changes a figure, and lists one that is added, instead of going stale.
"""

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from app.adapters.feeds.exchanges import REGISTERED
from app.adapters.feeds.exchanges.base import ExchangeProtocol
from app.domain.time_grid import SECONDS_PER_HOUR

Figure = TypeVar("Figure", bound=Hashable)


def connection_bounds() -> str:
    """Per exchange, what bounds one connection: how many symbols it holds, or what else fills first."""
    return ", ".join(f"`{exchange.kind}` {exchange.connection_bound()}" for exchange in REGISTERED)


def ping_intervals() -> str:
    """Who pings how often, and who leaves keep-alive to the exchange."""
    intervals = _grouped(lambda exchange: exchange.default_ping_interval)
    parts = [f"{_listed(kinds)} {interval:g} s" for interval, kinds in intervals if interval]
    servers = [exchange.kind for exchange in REGISTERED if not exchange.default_ping_interval]
    if servers:
        parts.append(f"none for {_listed(servers)}, whose server keeps the connection alive")
    return "; ".join(parts)


def ping_frames() -> str:
    """The exchanges a ping interval sends WebSocket ping frames to (the others get their own ping message)."""
    return _listed(exchange.kind for exchange in REGISTERED if exchange.ping_payload is None)


def rest_bases() -> str:
    """Every exchange's documented base: ``rest_url`` serves its listing, and its history where it has one."""
    return ", ".join(f"`{exchange.rest_base}`" for exchange in REGISTERED)


def connection_ages() -> str:
    """Where the exchange cuts a connection of some age, the age in hours; none for the others."""
    ages = _grouped(lambda exchange: exchange.max_connection_age)
    parts = [f"{age / SECONDS_PER_HOUR:g} h for {_listed(kinds)}" for age, kinds in ages if age]
    if any(exchange.max_connection_age is None for exchange in REGISTERED):
        parts.append("none for the others")
    return ", ".join(parts)


def _grouped(figure: Callable[[type[ExchangeProtocol]], Figure]) -> list[tuple[Figure, list[str]]]:
    """The exchanges' kinds by their ``figure``, in the registry's order."""
    groups: dict[Figure, list[str]] = {}
    for exchange in REGISTERED:
        groups.setdefault(figure(exchange), []).append(exchange.kind)
    return list(groups.items())


def _listed(kinds: Iterable[str]) -> str:
    """The kinds quoted, as prose lists them (`a`, `b` and `c`)."""
    quoted = [f"`{kind}`" for kind in kinds]
    return " and ".join([", ".join(quoted[:-1]), quoted[-1]]) if len(quoted) > 1 else "".join(quoted)
