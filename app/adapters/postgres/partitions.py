"""The partitions of the history tables: created ahead, dropped whole past retention, measured.

Minutes are partitioned by UTC day, hours by month, days by year and the
batch ledger by day (migration 7, ``schema.py``); a partition is named
after the start of its span (``market_data_p20261206``), which is all the
code needs to know its bounds. Creating and dropping change the parent's
catalog entry, so each runs in a short transaction of its own under an
advisory lock (two processes never race to create the same one) and a
``lock_timeout``: behind a long query on the table it gives up and the
next cadence tries again, rather than queueing every reader behind it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg2.extensions import cursor

from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, seconds_to_ms

# Serialises partition creation among every marketflow process (any constant; the same everywhere).
_CREATE_LOCK = 0x6D66_7061
LOCK_TIMEOUT = "2s"
_FORMATS = {"day": "%Y%m%d", "month": "%Y%m", "year": "%Y"}


@dataclass(frozen=True, slots=True)
class Tier:
    """A partitioned table: ``name`` as the README and ``/health`` call it, partitioned by ``unit``."""

    name: str
    table: str
    unit: str

    def start_ms(self, partition: str) -> int:
        """The first instant of a partition, read from its name."""
        suffix = partition.removeprefix(f"{self.table}_p")
        return seconds_to_ms(datetime.strptime(suffix, _FORMATS[self.unit]).replace(tzinfo=UTC).timestamp())

    def end_ms(self, partition: str) -> int:
        """The instant after a partition: the start of the next one."""
        start = datetime.fromtimestamp(self.start_ms(partition) / MS_PER_SECOND, UTC)
        if self.unit == "day":
            return self.start_ms(partition) + MS_PER_DAY
        after = start.replace(year=start.year + 1) if self.unit == "year" else _next_month(start)
        return seconds_to_ms(after.timestamp())


def _next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


MINUTES = Tier("minutes", "market_data", "day")
HOURS = Tier("hours", "market_data_hourly", "month")
DAYS = Tier("days", "market_data_daily", "year")
LEDGER = Tier("batches", "market_data_batches", "day")
# A batch id is kept while its batch may still be retried: a spool drains as soon as the store answers, and a
# replay happens at a takeover, within the raw retention. A batch older than this is refused, not retried; its
# partition is dropped a day later still, so clocks a little apart never let a retry past the ledger.
LEDGER_DAYS = 7
GRAIN_TIERS = {MS_PER_MINUTE: MINUTES, MS_PER_HOUR: HOURS, MS_PER_DAY: DAYS}
TIERS = (MINUTES, HOURS, DAYS, LEDGER)


def create(cur: cursor, tier: Tier, from_ms: int, to_ms: int) -> int:
    """The missing partitions of ``tier`` holding ``from_ms`` to ``to_ms`` (inclusive); returns how many were made.

    A failure leaves the transaction open: the pool discards a connection whose call raised, which ends it
    (a statement sent after an interrupted one would raise in its turn and hide why the call ended)."""
    cur.execute("BEGIN")
    cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
    cur.execute(
        "SELECT marketflow_partitions(%s, %s, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0))",
        (tier.table, tier.unit, from_ms, to_ms),
    )
    made = int(cur.fetchone()[0])
    cur.execute("COMMIT")
    return made


def partitions(cur: cursor, tier: Tier) -> list[str]:
    """``tier``'s partitions, oldest first."""
    return list(sizes(cur, tier))


def past(cur: cursor, tier: Tier, kept_from_ms: int) -> list[str]:
    """The partitions of ``tier`` holding nothing at or after ``kept_from_ms``: what retention drops."""
    return [name for name in partitions(cur, tier) if tier.end_ms(name) <= kept_from_ms]


def drop(cur: cursor, partition: str) -> None:
    """One partition, whole (its rows go with its files: no row-by-row delete, no vacuum); a failure as
    ``create``'s."""
    cur.execute("BEGIN")
    cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cur.execute(f'DROP TABLE "{partition}"')
    cur.execute("COMMIT")


def sizes(cur: cursor, tier: Tier) -> dict[str, int]:
    """Bytes on disk per partition (table, indexes and TOAST), oldest first."""
    cur.execute(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        (tier.table,),
    )
    return {name: int(size) for name, size in cur.fetchall()}
