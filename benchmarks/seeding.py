"""Stored minutes seeded through the real store, each batch written as of its newest minute.

The store refuses a batch whose newest minute is older than its ledger keeps
batch ids, and leaves out rows past retention, both judged by its clock: a
seed of weeks of history sets that clock to each batch's time, as if it had
been written then.
"""

import time
import uuid
from collections.abc import Sequence

from app.adapters.postgres.calls import PostgresCalls
from app.adapters.postgres.minute_store import PostgresMinuteStore
from app.adapters.postgres.pool import ConnectionPool
from app.config.schema import Config
from app.domain.minutes import MinuteBatch, MinuteRow


class AsOf:
    """A settable clock (seconds), now until set."""

    def __init__(self) -> None:
        self.now: float | None = None

    def __call__(self) -> float:
        return time.time() if self.now is None else self.now


def bench_store(config: Config, clock: AsOf) -> PostgresMinuteStore:
    """The store as the service builds it, on a pool of two, with long timeouts for big seeds."""
    calls = PostgresCalls(ConnectionPool(config.postgres.dsn, 2, 5.0, 2, 600_000), 1.0, 600)
    return PostgresMinuteStore(calls, config.retention.tiers(), clock)


def write_as_of(store: PostgresMinuteStore, clock: AsOf, rows: Sequence[MinuteRow], per_batch: int = 5000) -> None:
    """``rows`` in batches, each written as of its newest minute; the clock is now again afterwards."""
    for start in range(0, len(rows), per_batch):
        batch = tuple(rows[start : start + per_batch])
        clock.now = max(row.minute_ms for row in batch) / 1000
        store.write(MinuteBatch(uuid.uuid4().hex, batch, 0))
    clock.now = None
