"""Two hosts (two gunicorn masters) on one Redis Cluster of 3 masters and 3 replicas, under a stream of ticks.

One service run, in steps: every answer exact against brute force; a
slot migration (``redis-cli --cluster reshard``) under load; a master
killed mid-stream and its replica promoted, answers meanwhile exact or
partial with a reason, no feed read twice (its exchange program sees no
new connection), and once both stop, every tick stored exactly once.
"""

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from app.adapters.feeds.wire_line import encode_line
from app.adapters.redis.keys import RedisKeys
from tests.e2e.test_scale_out_e2e import assert_stored_exactly
from tests.support.net import LineExchange, wait_for
from tests.support.redis_cluster import RedisClusterServers
from tests.support.service import Service, Starter

FEEDS = ["exchange1", "exchange2", "exchange3"]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT", "DOGEUSDT"]
Sent = dict[tuple[str, str], list[tuple[float, int]]]  # per (exchange, symbol): (price, ms) of every tick sent


class Stream:
    """Sends a round of ticks to every pair every ``period`` seconds, from a thread, keeping what it sent."""

    def __init__(self, exchanges: list[LineExchange]) -> None:
        self._exchanges = exchanges
        self.sent: Sent = {(feed, symbol): [] for feed in FEEDS for symbol in SYMBOLS}
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    def round(self) -> None:
        now = int(time.time() * 1000)
        with self._lock:
            for i, (exchange, feed) in enumerate(zip(self._exchanges, FEEDS, strict=True)):
                lines = []
                for j, symbol in enumerate(SYMBOLS):
                    ticks = self.sent[(feed, symbol)]
                    for k in range(3):  # distinct prices: highest and lowest are one tick each
                        ticks.append((100.0 * (5 * i + j + 1) + len(ticks) / 1000, now - 3 + k))
                        lines.append(encode_line(symbol, *ticks[-1]))
                exchange.send(*lines)

    def expected(self) -> Sent:
        with self._lock:
            return {pair: list(ticks) for pair, ticks in self.sent.items()}

    def start(self, period: float = 0.1) -> None:
        self._running.set()

        def run() -> None:
            while self._running.is_set():
                self.round()
                time.sleep(period)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._thread:
            self._thread.join(timeout=5)


class Wrong(NamedTuple):
    path: str
    status: int
    counted: int | None
    sent: int

    def behind(self) -> bool:
        """Fewer ticks than sent, none wrong: the rest still on their way (the stream runs on)."""
        return self.status == 200 and self.counted is not None and self.counted < self.sent


def answers(service: Service, sent: Sent) -> tuple[list[Wrong], list[str]]:
    """Against brute force: the mismatches, and the partial answers (each with its reason)."""
    wrong, partial = [], []

    def check(path: str, ticks: list[tuple[float, int]]) -> None:
        prices = [price for price, _ in ticks]
        status, body = service.get(f"{path}?period=5m")
        if status == 404 and "(partial: " in body["error"]:  # nothing this worker could count, and why
            partial.append(f"{path}: {body['error']}")
        elif status != 200:
            wrong.append(Wrong(path, status, None, len(prices)))
        elif body.get("partial"):
            assert body["partial_reason"], body
            partial.append(f"{path}: {body['partial_reason']}")
        elif body["count"] != len(prices) or abs(float(body["price"]) - sum(prices) / len(prices)) > 1e-6:
            wrong.append(Wrong(path, status, body["count"], len(prices)))

    for symbol in SYMBOLS:
        for feed in FEEDS:
            check(f"/prices/average/{feed}/{symbol}", sent[(feed, symbol)])
        check(f"/prices/average/{symbol}", [tick for feed in FEEDS for tick in sent[(feed, symbol)]])
    return wrong, partial


def exact(service: Service, sent: Sent) -> bool:
    return answers(service, sent) == ([], [])


def test_two_hosts_on_a_cluster_answer_exactly_through_a_reshard_and_a_failover(
    make_config: Callable[..., dict],
    start_service: Starter[Service],
    exchanges: list[LineExchange],
    redis_cluster: RedisClusterServers,
    redis_prefix: str,
    pg_dsn: str,
    pg: object,
) -> None:
    config = make_config(
        redis={"url": redis_cluster.url, "cluster": True, "key_prefix": redis_prefix},
        leases={"ttl_seconds": 3.0},
        symbols=SYMBOLS,
    )
    first, second = start_service.together(config, config)
    stream = Stream(exchanges)
    try:
        wait_for(lambda: [ex.connections for ex in exchanges] == [1, 1, 1], timeout=20, message="each feed read")
        keys = RedisKeys(redis_prefix, True)
        masters = {redis_cluster.master_of(keys.ticks(feed, symbol)) for feed in FEEDS for symbol in SYMBOLS}
        assert len(masters) == 3  # the pairs live on every master
        for _ in range(3):
            stream.round()
        for service in (first, second):
            wait_for(lambda s=service: exact(s, stream.expected()), timeout=10, message="exact answers, each host")

        stream.start()  # under load from here on
        source, target = redis_cluster.masters()[:2]
        redis_cluster.reshard(source, target, 2000)
        stream.stop()
        wait_for(lambda: exact(first, stream.expected()), timeout=10, message="exact after the reshard")

        doomed = redis_cluster.master_of(keys.lease("exchange1"))  # a master with a lease, and pairs
        stream.start()
        redis_cluster.node(doomed).kill()
        promoted = threading.Thread(target=redis_cluster.wait_promoted, args=(doomed,))
        promoted.start()
        while promoted.is_alive():  # meanwhile, answers are exact or say they are partial, and why
            sent = stream.expected()
            wrong, _ = answers(second, sent)
            assert all(w.behind() for w in wrong), wrong
        promoted.join()
        stream.stop()
        sent = stream.expected()
        for service in (first, second):
            wait_for(lambda s=service: not answers(s, sent)[0], timeout=15, message="every count after the failover")
        assert [ex.connections for ex in exchanges] == [1, 1, 1]  # no lease granted twice: nobody else connected
    finally:
        stream.stop()
        first.stop()
        second.stop()
    sent = stream.expected()
    for symbol in SYMBOLS:  # every tick in its minute, once
        assert_stored_exactly(pg_dsn, {feed: sent[(feed, symbol)] for feed in FEEDS}, symbol)
