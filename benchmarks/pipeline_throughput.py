"""Push synthetic ticks through the real pipeline with Redis and PostgreSQL live.

    make bench                      # 40,000 ticks/s offered for 20 s
    python -m benchmarks.pipeline_throughput --rate 60000 --seconds 30
    python -m benchmarks.pipeline_throughput --rate 10000 --query-clients 16 --query-period 5m
    python -m benchmarks.pipeline_throughput --rate 10000 --query-clients 16 --cluster

Prints the sustained rate, drops, and two latencies: read -> queryable in
Redis (measured inside the pipeline), and the age of the newest tick a real
``latest`` query returns (what a client sees; it includes the generator's
own 20 ms emit interval). With ``--query-clients``, that many greenlets ask
for window averages back to back in the same process meanwhile, which is
what shows whether queries starve ingestion. With ``--cluster``, the same
run is made again on a throwaway Redis Cluster of 3 masters and 3 replicas
(tests/support/redis_cluster.py) and both are printed side by side, with the
Redis memory per (exchange, symbol) on each master. Uses its own exchange
names and Redis prefix and removes what it wrote.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import gevent  # noqa: E402
from psycogreen.gevent import patch_psycopg  # noqa: E402

from app.adapters.feeds.synthetic import SyntheticSource  # noqa: E402
from app.adapters.feeds.wire_line import decode_line  # noqa: E402
from app.adapters.redis.clients import make_client  # noqa: E402
from app.adapters.redis.keys import RedisKeys  # noqa: E402
from app.application.pipeline_stats import percentile  # noqa: E402
from app.application.price_queries import NoData  # noqa: E402
from app.composition import build_container  # noqa: E402
from app.config.loader import load_config  # noqa: E402
from app.config.schema import Config  # noqa: E402
from app.domain.period import parse_period  # noqa: E402
from benchmarks.leftovers import forget_cached, forget_stored  # noqa: E402
from tests.support.redis_cluster import RedisClusterServers  # noqa: E402

patch_psycopg()

EXCHANGES = ["bench-exchange1", "bench-exchange2", "bench-exchange3"]


def give_trade_ids() -> None:
    """Make the synthetic lines decode with a fresh trade id and a size each, like a live exchange's trades."""
    ids = itertools.count(1)

    def decode_with_ids(raw: bytes) -> Iterator[tuple[object, object, object, object, object]]:
        for symbol, price, ts, _, _ in decode_line(raw):
            yield symbol, price, ts, "0.001", str(next(ids))

    SyntheticSource.decode = staticmethod(decode_with_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40_000, help="ticks per second offered, all feeds together")
    parser.add_argument("--seconds", type=float, default=20, help="measured duration")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before measuring")
    parser.add_argument("--query-clients", type=int, default=0, help="greenlets asking for averages meanwhile")
    parser.add_argument("--query-period", default="5m", help="the period they ask for")
    parser.add_argument(
        "--trade-ids", action="store_true", help="give every tick a trade id and size, so dedup runs on each"
    )
    parser.add_argument(
        "--cluster", action="store_true", help="the same run again on a throwaway 3-master Redis Cluster, side by side"
    )
    args = parser.parse_args()
    if args.trade_ids:
        give_trade_ids()

    base = load_config()
    runs = {"single": measure(base, args)}
    if args.cluster:
        servers = RedisClusterServers().start()
        try:
            on_cluster = dataclasses.replace(base.redis, url=servers.url, cluster=True)
            runs["cluster"] = measure(dataclasses.replace(base, redis=on_cluster), args, servers)
        finally:
            servers.destroy()
    print(f"offered rate           {args.rate:,.0f} ticks/s for {args.seconds:g} s (after {args.warmup:g} s warm-up)")
    print(f"trade ids              {'each tick (dedup checked)' if args.trade_ids else 'none (dedup skipped)'}")
    print(f"{'':<24}" + "".join(f"{name:<44}" for name in runs))
    for label in next(iter(runs.values())):
        print(f"{label:<24}" + "".join(f"{figures.get(label, '')!s:<44}" for figures in runs.values()))


def measure(base: Config, args: argparse.Namespace, cluster: RedisClusterServers | None = None) -> dict[str, str]:
    """One run on ``base``'s Redis; its figures by label."""
    symbols = base.symbols
    prefix = f"mfbench{uuid.uuid4().hex[:6]}"
    config = dataclasses.replace(
        base,
        mode="test",
        redis=dataclasses.replace(base.redis, key_prefix=prefix),
        sources=dataclasses.replace(
            base.sources,
            test=dataclasses.replace(
                base.sources.test, exchanges=EXCHANGES, rate_per_symbol=args.rate / len(EXCHANGES) / len(symbols)
            ),
        ),
    )
    container = build_container(config)
    stats = container.pipeline.stats
    staleness: list[float] = []

    def probe() -> None:
        while True:
            gevent.sleep(0.05)
            try:
                _, latest = container.queries.latest("BTCUSDT")
            except NoData:
                continue
            staleness.append(time.time() - latest.ts_ms / 1000)

    query_times: list[float] = []
    period = parse_period(args.query_period)

    partial_times: list[float] = []  # answers that are not exact (from memory after a failed read, say)

    def ask() -> None:
        while True:
            started = time.perf_counter()
            try:
                exact = not container.queries.window("BTCUSDT", None, period).partial
            except NoData:
                exact = True
                gevent.sleep(0.01)
            (query_times if exact else partial_times).append(time.perf_counter() - started)
            gevent.sleep(0)

    container.start()
    gevent.sleep(args.warmup)
    ticks_before, started = stats.ticks, time.monotonic()
    stats.cache_latency.clear()
    prober = gevent.spawn(probe)
    askers = [gevent.spawn(ask) for _ in range(args.query_clients)]
    gevent.sleep(args.seconds)
    elapsed = time.monotonic() - started
    ticks = stats.ticks - ticks_before
    prober.kill()
    gevent.killall(askers)
    latency = stats.latency_summary()
    depths = container.pipeline.report().queues
    container.stop()
    rows = container.health.report()["aggregator"]["rows_written"]

    figures = {
        "sustained": f"{ticks / elapsed:,.0f} ticks/s ({ticks:,} ticks)",
        "drops": f"ingest {stats.ingest_dropped}, cache writes failed {stats.cache_failed}",
        "rejected": f"{stats.rejected}",
        "read->queryable": f"p50 {latency.p50_ms} ms, p99 {latency.p99_ms} ms",
    }
    p50, p99 = percentile(staleness, 0.5), percentile(staleness, 0.99)
    figures["latest-tick age (API)"] = f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms ({len(staleness)} probes)"
    if query_times:
        q50, q99 = percentile(query_times, 0.5), percentile(query_times, 0.99)
        figures[f"window {period.text} queries"] = (
            f"{len(query_times) / elapsed:,.0f}/s: p50 {q50 * 1000:.2f} ms, p99 {q99 * 1000:.2f} ms"
            f" ({len(partial_times)} partial, not counted)"
        )
    figures["queue depths at end"] = str(depths)
    figures["minute rows written"] = str(rows)
    figures["memory per pair"] = pair_memory(config, symbols, cluster)
    forget_cached(config.redis.url, prefix, cluster is not None)
    forget_stored(config.postgres.dsn, EXCHANGES)
    return figures


def pair_memory(config: Config, symbols: list[str], cluster: RedisClusterServers | None) -> str:
    """Bytes per (exchange, symbol) of its keys (``MEMORY USAGE``), per master that holds pairs."""
    keys = RedisKeys(config.redis.key_prefix, config.redis.cluster)
    client = make_client(config.redis, 10.0)
    per_node: dict[str, list[int]] = {}
    for exchange in EXCHANGES:
        for symbol in symbols:
            names = [keys.ticks(exchange, symbol), keys.seal(exchange, symbol)]
            names += [keys.buckets(grain, exchange, symbol) for grain in ("minutes", "seconds", "tenths")]
            node = f":{cluster.master_of(names[0])}" if cluster else "single"
            used = sum(client.memory_usage(name, samples=0) or 0 for name in names)
            per_node.setdefault(node, []).append(used)
    return ", ".join(
        f"{node} {sum(sizes) / len(sizes) / 1024:,.0f} KiB x {len(sizes)}" for node, sizes in sorted(per_node.items())
    )


if __name__ == "__main__":
    main()
