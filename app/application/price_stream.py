"""Every processed tick, pushed to the WebSocket clients that asked for it.

Publishing never waits on a client. Each subscriber holds at most
``max_pending`` ticks; past that it is coalesced to the latest tick per
(exchange, symbol), so a slow client gets the newest prices with memory
bounded by the market's size. A client that stays behind (coalesced) for
longer than ``max_lag_seconds`` is closed with a reason; one whose single
send blocks longer than ``max_send_seconds`` (it stopped reading) is cut off.
"""

import logging
import time
from collections import deque
from collections.abc import Iterable

from gevent.event import Event

from app.domain.tick import Tick

log = logging.getLogger(__name__)


class Subscriber:
    def __init__(self, max_pending: int) -> None:
        self.symbols: frozenset[str] = frozenset()  # empty: all
        self.exchanges: frozenset[str] = frozenset()
        self._max_pending = max_pending
        self._queue: deque[Tick] = deque()
        self._latest: dict[tuple[str, str], Tick] = {}
        self.coalesced = 0
        self.behind_since: float | None = None
        self.ready = Event()
        self.closed = False

    def behind_for(self) -> float:
        return 0.0 if self.behind_since is None else time.monotonic() - self.behind_since

    def wants(self, tick: Tick) -> bool:
        return (not self.symbols or tick.symbol in self.symbols) and (
            not self.exchanges or tick.exchange in self.exchanges
        )

    def offer(self, tick: Tick) -> None:
        if len(self._queue) < self._max_pending and not self._latest:
            self._queue.append(tick)
        else:
            self._latest[(tick.exchange, tick.symbol)] = tick
            self.coalesced += 1
            if self.behind_since is None:
                self.behind_since = time.monotonic()
        self.ready.set()

    def take(self) -> list[Tick]:
        """Everything pending, oldest first, then the coalesced latest prices.

        A take that finds nothing coalesced means the client caught up.
        """
        if not self._latest:
            self.behind_since = None
        ticks = [*self._queue, *self._latest.values()]
        self._queue.clear()
        self._latest.clear()
        self.ready.clear()
        return ticks


class PriceStream:
    def __init__(self, max_pending: int, max_lag_seconds: float, max_send_seconds: float) -> None:
        self.max_pending = max_pending
        self.max_lag_seconds = max_lag_seconds
        self.max_send_seconds = max_send_seconds
        self._subscribers: set[Subscriber] = set()
        self.closing = False

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(self.max_pending)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.closed = True
        subscriber.ready.set()

    def publish(self, ticks: Iterable[Tick]) -> None:
        if not self._subscribers:
            return
        subscribers = list(self._subscribers)
        for tick in ticks:
            for subscriber in subscribers:
                if subscriber.wants(tick):
                    subscriber.offer(tick)

    def close_all(self) -> None:
        """Shutdown: every sender wakes up, says goodbye and ends."""
        self.closing = True
        for subscriber in list(self._subscribers):
            self.unsubscribe(subscriber)
