import tempfile
import time
from pathlib import Path

import gevent

from app.adapters.feeds.exchanges.binance import BinanceProtocol
from app.adapters.feeds.wire_line import encode_line
from app.adapters.spool.file_spool import FileSpool
from app.application.aggregator import MinuteAggregator
from app.application.modes import ModeService
from app.application.pipeline import Pipeline
from app.application.ports.feeds import Emit
from app.application.recent_window import RecentWindow
from app.application.source_status import SourceStatus
from app.composition.pipeline import PipelineSettings, build_pipeline
from app.domain.buckets import CacheBatch
from app.domain.tick import Tick
from tests.support.exchange_servers import binance_trade
from tests.support.fakes import AllFeeds, FlakyCache, MemoryStore, ScriptedSource
from tests.support.net import wait_for

SYMBOLS = frozenset({"BTCUSDT", "ETHUSDT"})


def settings(**changes: object) -> PipelineSettings:
    base = {
        "workers": 3,
        "ingest_queue_size": 64,
        "ingest_put_timeout": 0.5,
        "result_queue_size": 64,
        "cache_batch_size": 100,
        "cache_batch_interval": 0.01,
        "cache_queue_size": 4,
        "aggregate_interval": 0.05,
        "checkpoint_interval": 0,
        "max_price": 1e12,
    }
    return PipelineSettings(**{**base, **changes})


def build(**changes: object) -> tuple[Pipeline, FlakyCache, RecentWindow, MemoryStore]:
    cache, store = FlakyCache(time.time), MemoryStore()
    window = RecentWindow(3_600_000, 10_000)
    spool = FileSpool(Path(tempfile.mkdtemp()) / "spool.jsonl", 1 << 20, "test-run")
    aggregator = MinuteAggregator(store, spool, grace_ms=1000)
    return build_pipeline(settings(**changes), cache, window, aggregator), cache, window, store


def now_ms() -> int:
    return int(time.time() * 1000)


def test_every_tick_reaches_cache_window_and_store_after_a_drain() -> None:
    pipeline, cache, window, store = build()
    ts = now_ms()
    reads = [[encode_line("BTCUSDT", 100.0 + i + j / 10, ts + i) for j in range(7)] for i in range(50)]
    pipeline.start()
    pipeline.attach(ScriptedSource("ex1", reads))
    gevent.sleep(0.3)
    pipeline.stop()
    assert pipeline.stats.ticks == 350
    assert pipeline.stats.cached == 350
    assert len(cache.held()) == 350
    assert cache.window("BTCUSDT", ["ex1"], 0, ts + 10**6).stats["ex1"].count == 350
    assert window.window("BTCUSDT", ["ex1"], 0, ts + 10**6).stats["ex1"].count == 350
    # The open minute was flushed at stop: every tick is in the store exactly once.
    assert sum(row.count for row in store.rows.values()) == 350
    assert pipeline.sources()["ex1"].messages == 350
    assert not pipeline.running


def test_a_quantity_from_the_feed_reaches_the_minute_and_a_bad_one_is_counted() -> None:
    pipeline, _, _, store = build()
    ts = now_ms() - now_ms() % 60_000  # all in one minute
    lines = [encode_line("BTCUSDT", 10.0, ts, 2.0), encode_line("BTCUSDT", 20.0, ts + 1, 1.0)]
    lines += [encode_line("BTCUSDT", 30.0, ts + 2), b'{"symbol":"BTCUSDT","price":1,"timestamp":%d,"quantity":-1}' % ts]
    pipeline.start()
    pipeline.attach(ScriptedSource("ex1", [lines]))
    gevent.sleep(0.2)
    pipeline.stop()
    (row,) = store.rows.values()
    assert (row.count, row.volume, row.vwap, row.open, row.close) == (3, 3.0, 40.0 / 3.0, 10.0, 30.0)
    assert pipeline.sources()["ex1"].decode_errors == {"bad_quantity": 1}


def test_bad_lines_are_counted_by_reason_and_the_rest_goes_through() -> None:
    pipeline, cache, _, _ = build()
    ts = now_ms()
    lines = [
        encode_line("BTCUSDT", 1.5, ts),
        b"{garbage",
        b'{"symbol":"XRPUSDT","price":1,"timestamp":1763712000000}',
        b'{"symbol":"BTCUSDT","price":-1,"timestamp":1763712000000}',
        b'{"symbol":"BTCUSDT","price":"2.5","timestamp":"%d"}' % (ts // 1000 - 5),
        b'{"symbol":"BTCUSDT","price":3,"timestamp":4102444800000}',
        b'{"symbol":"ETHUSDT","timestamp":1763712000000}',
    ]
    pipeline.start()
    pipeline.attach(ScriptedSource("ex1", [lines]))
    gevent.sleep(0.2)
    pipeline.stop()
    status = pipeline.sources()["ex1"]
    assert status.decode_errors == {
        "invalid_json": 1,
        "unknown_symbol": 1,
        "bad_price": 1,
        "missing_field": 1,
        "timestamp_out_of_range": 1,
    }
    assert pipeline.stats.ticks == 2
    assert pipeline.stats.rejected == 5
    assert cache.latest("BTCUSDT", ["ex1"])[0][0].price == 1.5  # ts of the seconds-timestamp tick is older


def test_full_ingest_queue_drops_and_counts() -> None:
    pipeline, *_ = build(ingest_queue_size=1, ingest_put_timeout=0.01)
    source = ScriptedSource("ex1", [[encode_line("BTCUSDT", 1.0, now_ms())]] * 3)
    pipeline.attach(source)  # workers not started: nothing drains the queue
    gevent.sleep(0.1)
    assert pipeline.stats.ingest_dropped == 2
    assert pipeline.report().queues["ingest"] == 1
    pipeline.detach("ex1")


def test_a_cache_outage_is_counted_and_the_window_is_written_back_when_it_returns() -> None:
    pipeline, cache, window, _ = build()
    ts = now_ms()
    cache.write(CacheBatch([Tick("ex1", "ETHUSDT", 1.0, ts - 1000, 0)], []))  # what it had before it went away
    cache.mark(0, ["ex1"])
    cache.down = True
    reads = [[encode_line("ETHUSDT", 3000.0 + i, ts + i)] for i in range(3)]
    source = ScriptedSource("ex1", reads)
    pipeline.start()
    pipeline.attach(source)
    gevent.sleep(0.1)
    assert pipeline.stats.cache_failed == 3
    assert pipeline.cache_consistent is False
    assert window.latest("ETHUSDT", ["ex1"])[0].price == 3002.0
    cache.down = False
    pipeline.detach("ex1")
    pipeline.attach(ScriptedSource("ex2", [[encode_line("ETHUSDT", 5.0, ts + 10)]]))
    gevent.sleep(0.1)
    pipeline.stop()
    assert pipeline.cache_consistent is True
    assert pipeline.stats.cache_restored == 4
    prices = sorted(tick.price for tick in cache.held() if tick.exchange == "ex1")
    assert prices == [1.0, 3000.0, 3001.0, 3002.0]
    assert cache.latest("ETHUSDT", ["ex1"])[0][0].price == 3002.0


def test_mode_switch_swaps_sources_and_repeating_it_is_harmless() -> None:
    pipeline, *_ = build()
    modes = ModeService(
        AllFeeds(pipeline), {"test": [ScriptedSource("t1", [])], "live": [ScriptedSource("l1", [])]}, "test"
    )
    pipeline.start()
    modes.start()
    assert pipeline.attached() == ["t1"]
    assert modes.switch("live") is True
    assert pipeline.attached() == ["l1"]
    assert pipeline.sources()["t1"].state == "stopped"
    assert modes.switch("live") is False
    assert pipeline.attached() == ["l1"]
    assert modes.exchanges() == ["l1"]
    modes.stop()
    pipeline.stop()
    assert pipeline.attached() == []


class BinanceLikeSource(ScriptedSource):
    """Emits Binance @trade messages, ids and all."""

    decode = staticmethod(BinanceProtocol(["BTCUSDT"]).decode)


class Seen:
    """An observer of the pipeline that keeps every tick it is shown."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []

    def observe(self, ticks: list[Tick]) -> None:
        self.ticks.extend(ticks)


def test_a_trade_seen_twice_is_counted_once_and_reported() -> None:
    pipeline, cache, _, store = build()
    ts = now_ms()
    first = [binance_trade("BTCUSDT", str(100 + i), ts + i, trade_id=i, qty="0.5").encode() for i in range(10)]
    # The last 4 again (a replay on subscribe), then 2 new ones.
    again = first[6:] + [binance_trade("BTCUSDT", str(200 + i), ts + 20 + i, 10 + i).encode() for i in range(2)]
    seen = Seen()
    pipeline.observe(seen)
    pipeline.start()
    pipeline.attach(BinanceLikeSource("binance", [first, again]))
    gevent.sleep(0.3)
    pipeline.stop()
    assert pipeline.stats.ticks == 12
    assert pipeline.sources()["binance"].duplicates == 4
    assert sum(row.count for row in store.rows.values()) == 12
    assert len(cache.held()) == 12
    assert [t.trade_id for t in seen.ticks] == [str(i) for i in range(12)]
    assert [t.quantity for t in seen.ticks] == [0.5] * 10 + [0.001] * 2


class CrashingOnce(ScriptedSource):
    """A source with a bug that shows on its first run only."""

    runs = 0

    def run(self, emit: Emit, status: SourceStatus) -> None:
        self.runs += 1
        if self.runs == 1:
            status.connected(time.time(), link=1)  # a second connection, gone with the crash
            raise KeyError("a bug")
        super().run(emit, status)


def test_a_source_that_crashes_is_shown_failed_and_run_again() -> None:
    pipeline, *_ = build()
    source = CrashingOnce("ex1", [[encode_line("BTCUSDT", 100.0, now_ms())]])
    pipeline.start()
    pipeline.attach(source)
    gevent.sleep(0.05)
    crashed = pipeline.sources()["ex1"]
    wait_for(lambda: pipeline.stats.ticks, timeout=3, message="run again after a backoff of at most a second")
    again = pipeline.sources()["ex1"]
    pipeline.stop()
    assert (crashed.state, crashed.last_error) == ("failed", "KeyError: 'a bug'")
    assert (source.runs, again.state, again.messages, again.connections) == (2, "connected", 1, 1)
