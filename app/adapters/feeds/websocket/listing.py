"""Which pairs a feed follows: a fixed list, or what its exchange lists as trading now.

``ExchangeListing`` fetches one exchange's listing over its public REST API
(the exchange's own ``listing``: same client, proxy routing and pacing as
its trade history), at most once per ``refresh_seconds`` however many of its
shards this process reads. ``Lineup`` turns it into one feed's symbols: the
pairs trading in one of the ``quotes``, the first ``max_symbols`` of them by
name (the same cut in every process), plus the configured ``symbols``, of
the feed's shard. A listing that can't be fetched keeps the last good one;
before any, the configured symbols stand in.
"""

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from app.adapters.feeds.exchanges.base import ExchangeProtocol, Listed
from app.adapters.net.rest_client import RestClient
from app.domain.feed_map import FeedMap


@dataclass(frozen=True)
class Discovery:
    quotes: tuple[str, ...]
    refresh_seconds: float
    max_symbols: int


class ExchangeListing:
    def __init__(
        self,
        exchange: type[ExchangeProtocol],
        client: RestClient,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exchange = exchange
        self._client = client
        self._refresh = refresh_seconds
        self._clock = clock
        self._fetched_at = float("-inf")
        self._pairs: list[Listed] | None = None
        # The exchange's spelling of every pair the listing named, updated in place: the connections of every
        # shard and the trade history hold this one mapping, so each asks for a pair as the listing wrote it.
        self.spellings: dict[str, str] = {}

    def pairs(self) -> list[Listed]:
        """The listing as of at most ``refresh_seconds`` ago; raises ``OSError`` when it can't be fetched now."""
        if self._pairs is None or self._clock() - self._fetched_at >= self._refresh:
            self._pairs = self._exchange.listing(self._client)
            self._fetched_at = self._clock()
            self.spellings.update((pair.symbol, pair.theirs) for pair in self._pairs)
        return self._pairs


class Lineup:
    """Feed ``feed``'s symbols: its shard of ``configured``, and with ``discovery`` of what ``listing`` lists."""

    def __init__(
        self,
        feed: str,
        exchange: str,
        feeds: FeedMap,
        configured: Collection[str],
        discovery: Discovery | None = None,
        listing: ExchangeListing | None = None,
    ) -> None:
        self._feed = feed
        self._exchange = exchange
        self._feeds = feeds
        self._configured = self._mine(configured)
        self.discovery = discovery
        self._listing = listing
        # The exchange's spelling of each pair its listing named (kept current by it), for the connections.
        self.spellings: Mapping[str, str] = {} if listing is None else listing.spellings

    def _mine(self, symbols: Collection[str]) -> frozenset[str]:
        return frozenset(s for s in symbols if self._feeds.feed_of(self._exchange, s) == self._feed)

    def configured(self) -> frozenset[str]:
        return self._configured

    def listed(self) -> frozenset[str]:
        """What the listing says now; raises ``OSError`` when it can't be fetched (the caller keeps the last)."""
        if self.discovery is None or self._listing is None:
            return self.configured()
        pairs = self._listing.pairs()
        quotes = set(self.discovery.quotes)
        trading = sorted(pair.symbol for pair in pairs if pair.trading and pair.quote in quotes)
        return self._mine(trading[: self.discovery.max_symbols]) | self._configured
