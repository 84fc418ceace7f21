"""``build_container`` takes a stand-in for a port and wires it where the real adapter would go: the whole
service, in-process, over an in-memory minute store and stored history instead of PostgreSQL's."""

import time
from collections.abc import Callable
from pathlib import Path

from app.adapters.feeds.wire_line import encode_line
from app.domain.iso_instant import iso_ms
from app.domain.retention import Upkeep
from app.domain.tick import minute_start
from app.domain.time_grid import MS_PER_DAY
from tests.support.fakes import MemoryStore, Rounds
from tests.support.in_process import InProcessService
from tests.support.net import LineExchange, wait_for


def test_a_substituted_store_and_history_are_the_ones_the_service_claims_writes_and_reports(
    make_config: Callable[..., dict], exchanges: list[LineExchange], tmp_path: Path
) -> None:
    store = MemoryStore()
    oldest = minute_start(int(time.time() * 1000)) - MS_PER_DAY  # inside every tier's retention
    history = Rounds(Upkeep(True, oldest_ms={"minutes": oldest}))
    # Open minutes sealed every 0.2 s: a tick reaches the store without waiting for its minute to close.
    config = make_config(aggregator={"checkpoint_seconds": 0.2})
    service = InProcessService(config, tmp_path, store=store, history=history)
    try:
        service.start()
        feeds = {f"exchange{i}" for i in range(1, len(exchanges) + 1)}
        wait_for(lambda: set(store.owners) == feeds, message="every feed claimed in the stand-in store")
        exchanges[0].wait_connected()  # a stand-in sends only to the connections it has accepted

        now = int(time.time() * 1000)
        # One instant for both: two instants 10 ms apart could straddle a minute's start.
        exchanges[0].send(encode_line("BTCUSDT", 100.5, now - 10), encode_line("BTCUSDT", 102.5, now - 10))
        minute = minute_start(now - 10)
        wait_for(lambda: ("exchange1", "BTCUSDT", minute) in store.rows, message="the minute in the stand-in")
        row = store.rows["exchange1", "BTCUSDT", minute]
        assert (row.count, row.low, row.high) == (2, 100.5, 102.5)

        health = service.get("/health")[1]
        assert health["history"]["minutes"]["oldest"] == iso_ms(oldest)  # the stand-in's round, reported
        assert history.answers == []  # its one round asked
        assert health["postgres"]["status"] == "up"
        store.down = True
        assert service.get("/health")[1]["postgres"] == {"status": "down", "error": "fake store down"}
    finally:
        service.stop()
