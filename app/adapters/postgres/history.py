"""The ``StoredHistory`` port on PostgreSQL: partitions ahead, retention, and the two small tables pruned.

A round runs under a session advisory lock taken with ``pg_try_advisory_lock``
on one pooled connection: one process at a time does it, the others only
read which partitions exist (a catalog query). A lock holder that dies
loses the lock with its session. Every change is a short transaction of its
own (``partitions.py``), so the lock never holds a table for the round.
"""

from collections.abc import Collection

from psycopg2.extensions import cursor

from app.adapters.postgres import partitions
from app.adapters.postgres.calls import PostgresCalls
from app.domain.retention import Retention, Upkeep
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, floor_to

# Any constant works; the same in every marketflow process.
_UPKEEP_LOCK = 0x6D66_7570
# Partitions made ahead of the writes: a week of failed rounds before a write has to make its own.
AHEAD_DAYS = 7
# A round is a few dozen catalog statements, each bounded by the server's statement and lock timeouts.
ROUND_TIMEOUT = 120.0


class PostgresHistory:
    """``feeds``: every feed the configuration names (in any mode); fencing rows of others are removed."""

    def __init__(self, calls: PostgresCalls, retention: Retention, feeds: Collection[str]) -> None:
        self._run = calls.run
        self._retention = retention
        self._feeds = sorted(feeds)

    def upkeep(self, now_ms: int) -> Upkeep:
        return self._run(lambda cur: self._round(cur, now_ms), timeout=ROUND_TIMEOUT)

    def _round(self, cur: cursor, now_ms: int) -> Upkeep:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (_UPKEEP_LOCK,))
        if not cur.fetchone()[0]:
            return Upkeep(held=False, oldest_ms=oldest(cur))
        try:
            created = sum(
                partitions.create(cur, tier, now_ms, now_ms + AHEAD_DAYS * MS_PER_DAY) for tier in partitions.TIERS
            )
            dropped = []
            for tier, kept_from in self._horizons(now_ms):
                for name in partitions.past(cur, tier, kept_from):
                    partitions.drop(cur, name)
                    dropped.append((tier.name, name))
            cur.execute("DELETE FROM feed_owners WHERE NOT (feed = ANY(%s))", (self._feeds,))
            removed = cur.rowcount
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_UPKEEP_LOCK,))
        return Upkeep(True, created, tuple(dropped), removed, oldest(cur))

    def _horizons(self, now_ms: int) -> list[tuple[partitions.Tier, int]]:
        """Per tier kept for a limited time, the first instant it keeps."""
        horizons = [(partitions.LEDGER, floor_to(now_ms, MS_PER_DAY) - (partitions.LEDGER_DAYS + 1) * MS_PER_DAY)]
        for grain in (MS_PER_MINUTE, MS_PER_HOUR, MS_PER_DAY):
            kept_from = self._retention.kept_from(grain, now_ms)
            if kept_from is not None:
                horizons.append((partitions.GRAIN_TIERS[grain], kept_from))
        return horizons


def oldest(cur: cursor) -> dict[str, int | None]:
    """Per tier, the first instant of its oldest partition."""
    found: dict[str, int | None] = {}
    for tier in partitions.TIERS:
        names = partitions.partitions(cur, tier)
        found[tier.name] = tier.start_ms(names[0]) if names else None
    return found
