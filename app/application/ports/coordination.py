"""Coordination ports: what the processes sharing the feeds tell each other, through Redis.

Every call raises ``StorageUnavailable`` when the shared store does not answer.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from app.application.process_report import ProcessReport
from app.domain.missed_trades import TradeGap
from app.domain.pair_state import PairActivity, PairState
from app.domain.tick import Tick


class FeedLeases(Protocol):
    """Who reads each feed, across every process sharing the cache: a lease with a TTL per feed."""

    def acquire(self, feed: str) -> int | None:
        """Take the feed if no process holds it; returns its fencing token (newer than any before), or None."""
        ...

    def renew(self, feed: str) -> bool:
        """Extend this process's lease; takes it again if the cache lost it. False: another process has it."""
        ...

    def release(self, feed: str) -> None: ...

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        """Per feed, the process holding it (``host:pid``), or None when it is free."""
        ...


class FeedLocks(Protocol):
    """Locks a store holds for this process as long as it lives (PostgreSQL's session advisory locks): what the
    leases fall back on while Redis does not answer."""

    def lock(self, feed: str) -> bool:
        """Hold the feed's lock (True; already held, fine), or False when another process holds it."""
        ...

    def unlock(self, feed: str) -> None: ...

    def holders(self, feeds: Sequence[str]) -> dict[str, str | None]:
        """Per feed, who holds its lock, or None when nobody does."""
        ...

    def token(self) -> int:
        """A fencing token from this store's clock (microseconds), for a lease taken while Redis is down."""
        ...


class ProcessRegistry(Protocol):
    """The processes sharing the cache, each with what it last said about itself (a TTL'd entry)."""

    def heartbeat(self, report: ProcessReport) -> None: ...

    def leave(self) -> None:
        """This process stops: no longer counted, nor shown as reading anything."""
        ...

    def processes(self) -> list[ProcessReport]:
        """Every live process's last report, by id (another version's read leniently)."""
        ...


class ControlChannel(Protocol):
    """The control state every process shares (mode, proxy settings), and news of its changes."""

    def load(self) -> dict[str, object] | None: ...

    def publish(self, state: dict[str, object]) -> None:
        """Store the state and tell every process."""
        ...

    def listen(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` once subscribed and on every change, until the connection fails."""
        ...


class ControlCopy(Protocol):
    """This host's copy of the last control state seen, for a start while the shared store is down."""

    def load(self) -> dict[str, object] | None: ...

    def save(self, state: dict[str, object]) -> None: ...


class TickRelay(Protocol):
    """Processed ticks passed between processes, so every worker's WebSocket clients see every feed."""

    def send(self, run: str, ticks: Sequence[Tick]) -> None: ...

    def listen(self, received: Callable[[str, list[Tick]], None]) -> None:
        """Call ``received(run, ticks)`` for every batch any process sends, until the connection fails."""
        ...


class PairRegistry(Protocol):
    """Where every followed pair stands, across processes: each process publishes the pairs of the feeds it reads
    (their states as they change, and their trades since the last publication); any process reads them all."""

    def publish(self, exchange: str, states: Mapping[str, PairState], activity: Mapping[str, PairActivity]) -> None: ...

    def version(self) -> int:
        """Changes whenever a state does: a reader reloads ``states`` only then."""
        ...

    def states(self) -> dict[str, dict[str, PairState]]:
        """Per exchange, every pair's state."""
        ...

    def activity(self, exchange: str, symbols: Sequence[str]) -> dict[str, PairActivity]:
        """Trades counted and the last trade's time of these pairs of ``exchange``, over every owner they had."""


class GapBook(Protocol):
    """The trade gaps every process sees: recorded by the process reading the feed, read by every answer."""

    def add(self, gap: TradeGap) -> None: ...

    def overlapping(self, symbol: str, exchanges: Sequence[str], from_ms: int, to_ms: int) -> list[TradeGap]:
        """The gaps of ``symbol`` on ``exchanges`` that a window ``from_ms..to_ms`` reaches into."""
        ...
