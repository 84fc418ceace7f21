"""A wide exchange as one feed per shard: every symbol in exactly the shard every process computes for it."""

import time
from pathlib import Path

import yaml

from app.adapters.net.connector import Connector
from app.application.trade_continuity import TradeContinuity
from app.application.trade_gaps import TradeGaps
from app.composition.adapters import proxy_router
from app.composition.sources import build_feed_map, feed_sources
from app.config.loader import load_config
from tests.support.fakes import FlakyCache

SYMBOLS = [f"S{n}USDT" for n in range(40)]


def test_each_exchange_is_split_into_its_shards_and_every_symbol_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "marketflow.yaml"
    raw = {
        "symbols": SYMBOLS,
        "aggregator": {"spool_path": str(tmp_path / "spool.jsonl")},
        "sources": {
            "test": {"exchanges": ["t1", "t2"], "shards": 4},
            "live": {
                "tcp": [{"name": "ex1", "port": 40101}],
                "websocket": [{"name": "b", "kind": "binance", "shards": 3}],
            },
        },
    }
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path, env={})
    feeds = build_feed_map(config)
    gaps = TradeGaps()
    sources = feed_sources(
        config, feeds, Connector(proxy_router(config)), TradeContinuity(gaps, FlakyCache(time.monotonic), 60_000), gaps
    )
    test = sources["test"]
    assert [s.name for s in test] == [f"t{e}/{n}" for e in (1, 2) for n in range(4)]
    for exchange in ("t1", "t2"):
        shards = [s for s in test if s.exchange == exchange]
        assert sorted(symbol for s in shards for symbol in s.symbols) == sorted(SYMBOLS)  # each once
        assert all(feeds.feed_of(exchange, symbol) == s.name for s in shards for symbol in s.symbols)
    live = sources["live"]
    assert [s.name for s in live] == ["ex1", "b/0", "b/1", "b/2"]
    assert live[0].symbols == frozenset(SYMBOLS)  # an exchange program pushes every symbol on one connection
    assert sorted(symbol for s in live[1:] for symbol in s.symbols) == sorted(SYMBOLS)
    assert {s.exchange for s in live[1:]} == {"b"}
