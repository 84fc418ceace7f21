"""Feed ports: where trades come from (a feed, an exchange's trade history) and who reads each feed."""

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from app.application.source_status import SourceStatus
from app.domain.missed_trades import Missing, Recovery
from app.domain.tick import Decoded

Emit = Callable[[list[bytes]], None]
"""How a source hands raw messages to the pipeline (one call per read)."""


class FeedSource(Protocol):
    """A producer of raw messages for one feed: an exchange, or one shard of it (``domain.feed_map``).

    ``name`` is the feed's (what its lease and fence are named by), ``exchange`` the exchange its trades are of,
    and ``symbols`` the symbols it may yield now: a trade of any other is rejected as ``unknown_symbol``.
    """

    name: str
    exchange: str
    symbols: frozenset[str]

    def run(self, emit: Emit, status: SourceStatus) -> None:
        """Produce until killed; reconnects are the source's own business."""
        ...

    def decode(self, raw: bytes) -> Iterator[Decoded]:
        """Yield one ``RawTrade`` per trade, or an ``InvalidTick`` in place of a bad trade (so the good trades
        after it still come out); raise ``InvalidTick`` when the message can't be read."""
        ...


class Feeds(Protocol):
    """Who reads the wanted sources (``FeedOwnership``: the leases decide which process)."""

    def want(self, sources: Sequence[FeedSource]) -> None: ...

    def restart(self, names: Sequence[str] | None = None) -> None: ...


class HeldFeeds(Protocol):
    """The feeds this process reads now (``FeedOwnership``): what its report shows and its proxy probes."""

    def held(self) -> list[str]: ...


class TradeHistory(Protocol):
    """An exchange's public trade history (REST), for the trades a stream missed."""

    def recover(self, missing: Missing) -> Recovery:
        """Raises ``OSError`` when the exchange can't be asked (after waiting out any rate limit)."""
        ...
