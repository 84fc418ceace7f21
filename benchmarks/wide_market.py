"""The whole market: 2,000 symbols on each of 3 exchanges beside the same run with 5 symbols.

    python -m benchmarks.wide_market                           # 2,000 and 5 symbols, 20,000 trades/s, 2 workers
    python -m benchmarks.wide_market --widths 2000 --rate 6000 --workers 2 --seconds 10

For each width: a real gunicorn in test mode, its synthetic exchanges
offering ``--rate`` trades/s in all, skewed as a market is (the k-th symbol
trades 1/k as often as the first), their feeds sharded so every worker reads
part of the market, against the local Redis and PostgreSQL under a private
key prefix. Once every feed is owned and warm, wrk (32 connections) asks
for ``/prices/latest/BTCUSDT``, the 5-minute average and ``/health``, each in
turn while ingestion goes on. Then, from every process's heartbeat: trades
ingested and dropped, read-to-queryable latency, RSS; Redis memory and keys
of the prefix; ``/health`` size and ``/metrics`` series. The difference of
the two widths, per pair added, is what a followed pair costs.
"""

import argparse
import itertools
import os
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import redis

from app.config.loader import load_config
from benchmarks.leftovers import forget_cached, forget_stored
from benchmarks.served import health, serve, wrk

EXCHANGES = ["wide-exchange1", "wide-exchange2", "wide-exchange3"]
LEADERS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT", "DOGEUSDT"]
PATHS = ("/prices/latest/BTCUSDT", "/prices/average/BTCUSDT?period=5m", "/health")


def symbols(count: int) -> list[str]:
    """``count`` symbols, the market's leaders first (they trade most)."""
    return (LEADERS + [f"ALT{i:04d}USDT" for i in range(count)])[:count]


def processes(base: str) -> list[dict]:
    return [p for p in health(base)["processes"] if p.get("pipeline")]


def totals(base: str) -> tuple[int, int]:
    """Trades taken by every process so far, and trades dropped."""
    taken = dropped = 0
    for process in processes(base):
        pipeline = process["pipeline"]
        taken += pipeline["ticks"]
        dropped += sum(pipeline["drops"].values())
    return taken, dropped


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def redis_use(client: redis.Redis, prefix: str) -> tuple[int, int]:
    """Bytes and keys under ``prefix``."""
    used = keys = 0
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        used += client.memory_usage(key) or 0
        keys += 1
    return used, keys


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def measure(width: int, args: argparse.Namespace) -> dict[str, object]:
    config = load_config()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    pairs = width * len(EXCHANGES)
    settings = {
        "mode": "test",
        "symbols": symbols(width),
        "http": {"workers": args.workers},
        "redis": {"url": config.redis.url, "key_prefix": prefix},
        "postgres": {"dsn": config.postgres.dsn},
        "sources": {
            "test": {
                "exchanges": EXCHANGES,
                "rate_per_symbol": args.rate / pairs,
                "shards": args.shards,
            }
        },
        "logging": {"level": "WARNING"},
    }
    client = redis.Redis.from_url(config.redis.url)
    with tempfile.TemporaryDirectory() as workdir:
        settings["aggregator"] = {"spool_path": str(Path(workdir) / "minutes.jsonl")}
        process, base = serve(settings, Path(workdir), 17000 + os.getpid() % 1000, ready="owned")
        try:
            time.sleep(args.warmup)  # the windows fill, the first minutes close
            row: dict[str, object] = {"width": width, "pairs": pairs}
            started = time.monotonic()
            taken_before, dropped_before = totals(base)
            for path in PATHS:
                row[path] = wrk(base + path, args.seconds)
            taken, dropped = totals(base)
            row["ingest"] = (taken - taken_before) / (time.monotonic() - started)
            row["drops"] = dropped - dropped_before
            live = processes(base)
            latencies = [p["pipeline"]["tick_to_cache_latency"] for p in live]
            row["latency_p50"] = max(lat["p50_ms"] or 0 for lat in latencies)
            row["latency_p99"] = max(lat["p99_ms"] or 0 for lat in latencies)
            row["rss"] = sum(rss_mib(int(p["id"].rsplit(":", 1)[1])) for p in live)  # id: host:pid
            row["redis"], row["keys"] = redis_use(client, prefix)
            row["health_bytes"] = len(get_bytes(base + "/health"))
            metrics = get_bytes(base + "/metrics").decode()
            row["series"] = sum(1 for line in metrics.splitlines() if line and not line.startswith("#"))
        finally:
            process.terminate()
            process.wait(timeout=60)
            forget_cached(config.redis.url, prefix)
            forget_stored(config.postgres.dsn, EXCHANGES)
            client.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[5, 2000], help="symbols per exchange, per run")
    parser.add_argument("--rate", type=int, default=20_000, help="trades/s offered in all")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4, help="feeds per exchange, spread over the workers")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=10)
    args = parser.parse_args()
    print(
        f"{args.rate:,} trades/s offered over {len(EXCHANGES)} exchanges x {args.shards} shards, skewed (1/rank),"
        f" {args.workers} workers; wrk: 32 connections"
    )
    runs = [measure(width, args) for width in args.widths]
    header = ["", *(f"{run['pairs']:,} pairs" for run in runs)]
    lines = [
        ("ingested trades/s", [f"{run['ingest']:,.0f}" for run in runs]),
        ("drops", [f"{run['drops']:,}" for run in runs]),
        ("read to queryable p50 / p99", [f"{run['latency_p50']:.0f} / {run['latency_p99']:.0f} ms" for run in runs]),
    ]
    for path in PATHS:
        lines.append((f"{path} req/s, p50 / p99", [f"{r[path][0]:,.0f}, {r[path][1]} / {r[path][2]}" for r in runs]))
    lines += [
        ("RSS, all workers", [f"{run['rss']:,.0f} MiB" for run in runs]),
        ("Redis memory, keys", [f"{run['redis'] / 2**20:,.1f} MiB, {run['keys']:,}" for run in runs]),
        ("/health size", [f"{run['health_bytes']:,} B" for run in runs]),
        ("/metrics series", [f"{run['series']:,}" for run in runs]),
    ]
    width = max(len(name) for name, _ in lines)
    print(f"{header[0]:<{width}}  " + "  ".join(f"{h:>28}" for h in header[1:]))
    for name, cells in lines:
        print(f"{name:<{width}}  " + "  ".join(f"{cell:>28}" for cell in cells))
    for narrow, wide in itertools.pairwise(runs):
        added = wide["pairs"] - narrow["pairs"]
        print(
            f"per pair added from {narrow['pairs']:,} to {wide['pairs']:,}: "
            f"{(wide['rss'] - narrow['rss']) * 1024 / added:,.1f} KiB of RSS,"
            f" {(wide['redis'] - narrow['redis']) / 1024 / added:,.1f} KiB of Redis"
        )


if __name__ == "__main__":
    main()
