"""The reconnect loop every network feed shares.

A feed supplies ``session``: connect, read until the connection ends, and
return (or raise) why it ended. This loop records the reason for /health,
backs off with jitter, paces attempts, waits at least as long as an
exchange's rate limit asked (``retry_after`` on the error), and never lets a
feed die: an unexpected error is logged with its traceback and retried like
any other.
"""

import logging
import time
from collections.abc import Callable
from typing import Protocol

import gevent
import websocket

from app.application.backoff import Backoff, ConnectPacer

log = logging.getLogger(__name__)

EXPECTED = (OSError, websocket.WebSocketException)


class ConnectionEvents(Protocol):
    """What a connection's loop reports: a feed's ``SourceStatus``, or one link of it."""

    name: str

    def connecting(self) -> None: ...

    def connected(self, at: float) -> None: ...

    def disconnected(self, reason: str) -> None: ...

    def backing_off(self) -> None: ...


def mark_connected(status: ConnectionEvents) -> None:
    status.connected(time.time())
    log.info("feed connected", extra={"exchange": status.name})


def reconnect_forever(
    status: ConnectionEvents, session: Callable[[], str], backoff: Backoff, pacer: ConnectPacer | None = None
) -> None:
    while True:
        if pacer is not None:
            pacer.wait()
        status.connecting()
        started = time.monotonic()
        hold = 0.0
        try:
            reason = session()
        except EXPECTED as exc:
            reason = f"{type(exc).__name__}: {exc}"[:300]
            hold = getattr(exc, "retry_after", 0.0)
        except Exception as exc:
            reason = f"unexpected {type(exc).__name__}: {exc}"[:300]
            log.exception("feed failed unexpectedly", extra={"exchange": status.name})
        status.disconnected(reason)
        log.warning("feed connection ended", extra={"exchange": status.name, "error": reason})
        backoff.connection_ended(time.monotonic() - started)
        status.backing_off()
        gevent.sleep(max(backoff.next_delay(), hold))
