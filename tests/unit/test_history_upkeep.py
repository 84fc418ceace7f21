"""The upkeep service: what a round did is counted, and /health's view of the history kept."""

from app.application.history_upkeep import HistoryUpkeep
from app.application.process_report import UpkeepReport
from app.domain.retention import Retention, Upkeep
from app.domain.time_grid import MS_PER_DAY
from tests.support.fakes import Clock, MemoryStore, Rounds

NOW = 20_000 * MS_PER_DAY + 3_600_000


def test_rounds_are_counted_and_the_oldest_kept_is_the_later_of_partition_and_horizon() -> None:
    oldest = {"minutes": 19_900 * MS_PER_DAY, "hours": 19_990 * MS_PER_DAY, "days": None, "batches": 0}
    dropped = (("minutes", "market_data_p20240101"), ("minutes", "market_data_p20240102"), ("hours", "h"))
    store = MemoryStore()
    upkeep = HistoryUpkeep(
        Rounds(Upkeep(True, 9, dropped, 2, oldest), None, Upkeep(False, oldest_ms=oldest)),
        store,
        Retention(35, 400, 0),
        600,
        Clock(NOW / 1000),
    )
    assert upkeep.status()["minutes"] == {"kept_days": 35, "oldest": None}  # before any round
    upkeep.run_once()
    assert (upkeep.partitions_created, dict(upkeep.partitions_dropped), upkeep.feed_owners_removed) == (
        9,
        {"minutes": 2, "hours": 1},
        2,
    )
    assert upkeep.status() == {
        "minutes": {"kept_days": 35, "oldest": "2024-08-30T00:00:00.000Z"},  # the horizon: 35 days back
        "hours": {"kept_days": 400, "oldest": "2024-09-24T00:00:00.000Z"},  # its oldest partition: later
        "days": {"kept_days": 0, "oldest": None},
        "error": None,
    }
    store.rows_past_retention = 3  # this process's writes left rows out
    assert upkeep.report() == UpkeepReport(9, {"minutes": 2, "hours": 1}, 3, oldest)
    upkeep.run_once()
    assert upkeep.status()["error"] == "postgres unavailable: OperationalError: down"
    upkeep.run_once()  # another process's round: nothing done here, the view refreshed
    assert upkeep.status()["error"] is None
    assert upkeep.partitions_created == 9
