"""Which feed each (exchange, symbol) is read under: the exchange itself, or one of its shards.

A feed is the unit one process reads under one lease. An exchange with one
shard is one feed, named as the exchange; a wide one is split into
``shards`` feeds, ``<exchange>/<n>``, and a symbol's shard is a stable hash
of its name. So every process finds the same feed for a symbol without
asking anyone, and a listing or a delisting never moves another symbol to
another shard: only a change of the shard count does.
"""

import hashlib
from collections.abc import Mapping

SHARD_SEPARATOR = "/"


def shard_of(symbol: str, shards: int) -> int:
    """The shard of ``symbol`` among ``shards``: the same in every process and every version."""
    digest = hashlib.blake2b(symbol.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class FeedMap:
    """``shards``: how many feeds each exchange is split into (1 where it is not listed)."""

    def __init__(self, shards: Mapping[str, int] | None = None) -> None:
        self._shards = {exchange: count for exchange, count in (shards or {}).items() if count > 1}

    def shards(self, exchange: str) -> int:
        return self._shards.get(exchange, 1)

    def feed_of(self, exchange: str, symbol: str) -> str:
        count = self._shards.get(exchange)
        return exchange if count is None else f"{exchange}{SHARD_SEPARATOR}{shard_of(symbol, count)}"

    def feeds_of(self, exchange: str) -> list[str]:
        count = self._shards.get(exchange)
        return [exchange] if count is None else [f"{exchange}{SHARD_SEPARATOR}{n}" for n in range(count)]

    def exchange_of(self, feed: str) -> str:
        """The exchange a feed reads (exchange names never hold the separator)."""
        return feed.split(SHARD_SEPARATOR, 1)[0]
