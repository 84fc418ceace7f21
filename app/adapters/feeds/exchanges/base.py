"""What the WebSocket source needs to know about one exchange.

A message is either data (handed raw to the pipeline, whose workers call
``decode``) or a control message the connection loop handles itself
(``Control``): acks, pongs, errors in the exchange's own words, and requests
to reconnect. ``decode`` yields one ``(symbol, price, timestamp, quantity, trade_id)``
per trade, with the symbol in our spelling, or an ``InvalidTick`` in place of a trade it
can't read, so one bad trade never hides the good ones after it in the same
message. A message it can't read at all raises ``InvalidTick``.

An exchange may also name its REST trade history (``history``), which
recovers what a stream missed; ``trade_history`` builds it for one source.
"""

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from app.adapters.feeds.exchanges.rest_history import ExchangeHistory
from app.adapters.net.connector import Connector
from app.adapters.net.rest_client import RestClient
from app.domain.tick import Decoded


@dataclass(frozen=True)
class Control:
    kind: str  # "ack", "pong", "error", "reconnect" or "ignore"
    detail: str = ""


# Sent on subscribe, a snapshot repeats recent history: counting it would count old trades again after a reconnect.
SNAPSHOT = Control("ignore", "snapshot of past trades")


def unrecognised(raw: str) -> Control:
    """A message none of the exchange's rules knows: ignored, with its start kept for the log."""
    return Control("ignore", raw[:80])


class ExchangeProtocol:
    """Defaults suit a JSON protocol with server-side keep-alive and no trade history."""

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

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols

    @classmethod
    def trade_history(
        cls, name: str, rest_url: str, connector: Connector, timeout: float, tls: ssl.SSLContext
    ) -> ExchangeHistory | None:
        """Source ``name``'s history at ``rest_url`` (or the documented base), or None for an exchange without one.

        The REST client has a name of its own for the proxy router (``<name> rest``): it follows the same
        proxy settings as the stream without taking over the stream's route state or its direct probes.
        """
        history = cls.history
        if history is None:
            return None
        client = RestClient(
            f"{name} rest", rest_url or history.default_base, connector, timeout, tls, history.min_interval
        )
        return history(name, client)

    def subscribe_messages(self) -> list[str]:
        raise NotImplementedError

    def control(self, raw: str) -> Control | None:
        """``None`` for data, else what the connection loop should do with it."""
        raise NotImplementedError

    def decode(self, raw: bytes | str) -> Iterator[Decoded]:
        raise NotImplementedError
