"""The ``StoredHistory`` port on PostgreSQL: partitions ahead, retention, and the two small tables pruned.

A round runs under a session advisory lock taken with ``pg_try_advisory_lock``
on one pooled connection: one process at a time does it, the others only
read which partitions exist (a catalog query). A lock holder that dies
loses the lock with its session. Every change is a short transaction of its
own (``partitions.py``), so the lock never holds a table for the round.
"""

from collections.abc import Collection
from dataclasses import dataclass

from psycopg2.extensions import cursor

from app.adapters.postgres import partitions
from app.adapters.postgres.calls import PostgresCalls
from app.domain.retention import Retention, Upkeep, horizon_ms
from app.domain.time_grid import MS_PER_DAY

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
        # A round that raises leaves the lock to its session, which the pool then closes.
        created = make_ahead(cur, now_ms)
        dropped = []
        for tier, days in kept_days(self._retention).items():
            if not days:
                continue
            for name in partitions.past(cur, tier, horizon_ms(now_ms, days)):
                partitions.drop(cur, name)
                dropped.append((tier.name, name))
        cur.execute("DELETE FROM feed_owners WHERE NOT (feed = ANY(%s))", (self._feeds,))
        removed = cur.rowcount
        cur.execute("SELECT pg_advisory_unlock(%s)", (_UPKEEP_LOCK,))
        return Upkeep(True, created, tuple(dropped), removed, oldest(cur))


def kept_days(retention: Retention) -> dict[partitions.Tier, int]:
    """Per tier, the whole days kept before today (0: for ever): a partition goes once it ends before them."""
    return {
        partitions.MINUTES: retention.minutes_days,
        partitions.HOURS: retention.hours_days,
        partitions.DAYS: retention.days_days,
        partitions.LEDGER: partitions.LEDGER_DAYS + 1,
    }


def make_ahead(cur: cursor, now_ms: int) -> int:
    """The partitions of every tier from now to ``AHEAD_DAYS`` ahead that are missing; returns how many."""
    ahead = now_ms + AHEAD_DAYS * MS_PER_DAY
    return sum(partitions.create(cur, tier, now_ms, ahead) for tier in partitions.TIERS)


@dataclass(frozen=True)
class TierStorage:
    """What ``flask marketflow storage`` prints for a tier."""

    tier: partitions.Tier
    kept_days: int
    sizes: dict[str, int]
    # The oldest partition and the first UTC day whose upkeep drops it (None: kept for ever, or none yet).
    next_drop: tuple[str, int] | None


def storage(cur: cursor, retention: Retention) -> list[TierStorage]:
    """Each tier's partitions with their sizes, and the one retention drops next."""
    report = []
    for tier, days in kept_days(retention).items():
        sizes = partitions.sizes(cur, tier)
        oldest_name = next(iter(sizes), None)
        next_drop = (oldest_name, tier.end_ms(oldest_name) + days * MS_PER_DAY) if days and oldest_name else None
        report.append(TierStorage(tier, days, sizes, next_drop))
    return report


def oldest(cur: cursor) -> dict[str, int | None]:
    """Per tier, the first instant of its oldest partition."""
    found: dict[str, int | None] = {}
    for tier in partitions.TIERS:
        names = partitions.partitions(cur, tier)
        found[tier.name] = tier.start_ms(names[0]) if names else None
    return found
