"""Requests/s with 1 worker and with N, while the feeds (spread over the workers) ingest 10,000 ticks/s.

    python -m benchmarks.scale_out                  # 1 worker, then one per CPU
    python -m benchmarks.scale_out --workers 1 4 --rate 20000

For each worker count: a real gunicorn in test mode whose synthetic
exchanges (3, so feeds spread over the workers by their leases) offer
``--rate`` ticks/s in all, against the local Redis and PostgreSQL under a
private key prefix. Once every feed is owned, wrk (64 connections) drives
``/prices/latest`` and then ``/prices/average?period=5m`` while the
ingestion rate is read from every process's heartbeat in ``/health``.
wrk shares the machine with the service, so the figures are a floor.
"""

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from app.config.loader import load_config
from benchmarks.leftovers import forget_cached, forget_stored
from benchmarks.served import health, serve, wrk

EXCHANGES = ["so-exchange1", "so-exchange2", "so-exchange3"]
SYMBOLS = ["BTCUSDT", "DOGEUSDT", "TONUSDT", "SOLUSDT", "ETHUSDT"]
PATHS = ("/prices/latest/BTCUSDT", "/prices/average/BTCUSDT?period=5m")


def ingested(base: str) -> int:
    """Ticks taken so far by every process (from their heartbeats)."""
    return sum(p["pipeline"]["ticks"] for p in health(base)["processes"] if p.get("pipeline"))


def start(workers: int, rate: int, prefix: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    config = load_config()
    settings = {
        "mode": "test",
        "http": {"workers": workers},
        "redis": {"url": config.redis.url, "key_prefix": prefix},
        "postgres": {"dsn": config.postgres.dsn},
        "aggregator": {"spool_path": str(workdir / "minutes.jsonl")},
        "sources": {"test": {"exchanges": EXCHANGES, "rate_per_symbol": rate / len(EXCHANGES) / len(SYMBOLS)}},
        "logging": {"level": "WARNING"},
    }
    return serve(settings, workdir, 19000 + os.getpid() % 1000, ready="owned")


def measure(workers: int, rate: int, seconds: int) -> dict[str, object]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as workdir:
        process, base = start(workers, rate, prefix, Path(workdir))
        try:
            time.sleep(3)  # warm up: the windows fill, the first minutes are sealed
            row: dict[str, object] = {"workers": workers, "owners": len({s["owner"] for s in health(base)["sources"]})}
            started, before = time.monotonic(), ingested(base)
            for path in PATHS:
                rps, _, p99 = wrk(base + path, seconds, connections=64)
                row[path] = rps, p99
            row["ingest"] = (ingested(base) - before) / (time.monotonic() - started)
        finally:
            process.terminate()
            process.wait(timeout=30)
            config = load_config()
            forget_cached(config.redis.url, prefix)
            forget_stored(config.postgres.dsn, EXCHANGES)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--rate", type=int, default=10_000, help="ticks/s offered in all")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    args = parser.parse_args()
    print(f"ingestion offered: {args.rate:,} ticks/s over {len(EXCHANGES)} feeds; wrk: 64 connections")
    header = ("workers", "feed owners", "latest req/s", "p99", "avg 5m req/s", "p99", "ingest")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (7, 11, 13, 9, 13, 9, 12), strict=True)))
    for workers in args.workers:
        row = measure(workers, args.rate, args.seconds)
        (latest, latest_p99), (average, average_p99) = row[PATHS[0]], row[PATHS[1]]
        print(
            f"{workers:>7} {row['owners']:>11} {latest:>13,.0f} {latest_p99:>9} {average:>13,.0f} {average_p99:>9}"
            f" {row['ingest']:>10,.0f}/s"
        )


if __name__ == "__main__":
    main()
