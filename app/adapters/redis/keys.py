"""Every Redis key and channel marketflow uses, with the hash tags that make it legal on Redis Cluster.

A cluster places a key by the CRC16 of its hash tag (the part in ``{}``), so
keys that one command or one script touches must share a tag:

- ``{<exchange>:<SYMBOL>}``: every key of one pair (raw ticks, minute, second
  and tenth buckets, its write seal, its gaps), so the window script and the
  bucket script run on the one node holding the pair's data.
- ``{<SYMBOL>}``: the latest price per exchange of a symbol (one hash).
- ``{<feed>}``: the feed's completeness mark.
- ``{<exchange>}``: the leases of an exchange's feeds, read with one MGET.
- ``{registry}``: the process heartbeats and their index, read together.

A single instance ignores the tags, and uses the same names.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from redis.crc import key_slot

from app.domain.feed_map import SHARD_SEPARATOR

T = TypeVar("T")


class RedisKeys:
    """``cluster``: whether keys must be grouped by slot (``slot_groups``); names are the same either way."""

    def __init__(self, prefix: str, cluster: bool) -> None:
        self.prefix = prefix
        self.cluster = cluster

    def ticks(self, exchange: str, symbol: str) -> str:
        return f"{self.prefix}:ticks:{{{exchange}:{symbol}}}"

    def buckets(self, grain: str, exchange: str, symbol: str) -> str:
        """``grain``: ``minutes``, ``seconds`` or ``tenths``."""
        return f"{self.prefix}:{grain}:{{{exchange}:{symbol}}}"

    def seal(self, exchange: str, symbol: str) -> str:
        return f"{self.prefix}:seal:{{{exchange}:{symbol}}}"

    def gaps(self, exchange: str, symbol: str) -> str:
        return f"{self.prefix}:gaps:{{{exchange}:{symbol}}}"

    def ticks_pattern(self, exchange: str) -> str:
        """A SCAN pattern for the raw-tick keys of every symbol of ``exchange``."""
        return f"{self.prefix}:ticks:{{{exchange}:*"

    def symbol_of_ticks(self, key: bytes) -> str:
        """The symbol of a ``ticks`` key (the tag's part after the exchange)."""
        return key.decode().rsplit(":", 1)[1].rstrip("}")

    def latest(self, symbol: str) -> str:
        return f"{self.prefix}:latest:{{{symbol}}}"

    def mark(self, feed: str) -> str:
        return f"{self.prefix}:complete:{{{feed}}}"

    def lease(self, feed: str) -> str:
        exchange, separator, shard = feed.partition(SHARD_SEPARATOR)
        return f"{self.prefix}:lease:{{{exchange}}}{separator}{shard}"

    def process(self, run: str) -> str:
        return f"{self.prefix}:{{registry}}:process:{run}"

    def processes(self) -> str:
        return f"{self.prefix}:{{registry}}:processes"

    def control(self) -> str:
        """The shared control state, and the channel announcing its changes."""
        return f"{self.prefix}:control"

    def stream(self) -> str:
        return f"{self.prefix}:stream"

    def pairs(self, kind: str, exchange: str) -> str:
        """``kind``: ``pairs``, ``pair_ticks`` or ``pair_last``."""
        return f"{self.prefix}:{kind}:{exchange}"

    def pairs_version(self) -> str:
        return f"{self.prefix}:pairs_version"

    def pair_exchanges(self) -> str:
        return f"{self.prefix}:pair_exchanges"

    def slot_groups(self, items: Iterable[T], key_of: Callable[[T], str]) -> Iterator[list[T]]:
        """``items`` grouped so each group's keys share a slot: one group on a single instance (one script
        call there, as before), one per slot on a cluster."""
        if not self.cluster:
            group = list(items)
            if group:
                yield group
            return
        groups: dict[int, list[T]] = {}
        for item in items:
            groups.setdefault(key_slot(key_of(item).encode()), []).append(item)
        yield from groups.values()
