"""Loopback exchanges for following the whole market: each speaks one exchange's documented protocol and keeps
its documented limits, so a client that breaks one is caught (``violations``) instead of passing.

One class per exchange (``WideBinance``, ``WideBybit``, ``WideOkx``, ``WideCoinbase``, ``WideKraken``),
each a ``WideExchange``: a listing the test changes while clients run, REST discovery and trade
history at ``rest_url``, a WebSocket server at ``url``, and trades pushed to exactly the connections
subscribed to them. ``wide_exchange(kind, **limits)`` makes one by its kind.
"""

from tests.support.wide.base import (
    DELISTED,
    HALTED,
    TRADING,
    ConnectionInfo,
    Handshake,
    Listed,
    Refusal,
    Violation,
    WideExchange,
)
from tests.support.wide.binance import WideBinance
from tests.support.wide.bybit import WideBybit
from tests.support.wide.coinbase import WideCoinbase
from tests.support.wide.kraken import WideKraken
from tests.support.wide.okx import WideOkx

WIDE_EXCHANGES: dict[str, type[WideExchange]] = {
    exchange.kind: exchange for exchange in (WideBinance, WideBybit, WideOkx, WideCoinbase, WideKraken)
}


def wide_exchange(kind: str, **options: object) -> WideExchange:
    """The wide exchange of ``kind`` with its limits as documented, but for the ones ``options`` shrink."""
    return WIDE_EXCHANGES[kind](**options)  # type: ignore[arg-type]


__all__ = [
    "DELISTED",
    "HALTED",
    "TRADING",
    "WIDE_EXCHANGES",
    "ConnectionInfo",
    "Handshake",
    "Listed",
    "Refusal",
    "Violation",
    "WideBinance",
    "WideBybit",
    "WideCoinbase",
    "WideExchange",
    "WideKraken",
    "WideOkx",
    "wide_exchange",
]
