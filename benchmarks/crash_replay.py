"""How long a feed's new owner takes to find what its crashed owner never stored.

    python -m benchmarks.crash_replay                 # 300,000 cached ticks of the feed, 50,000 unsealed
    python -m benchmarks.crash_replay --cached 1000000 --unsealed 100000

Fills a private Redis prefix with ticks of one feed (five symbols) written
by a "crashed" run (and as many by a live one, which the scan has to skip,
plus as many of another feed, which it never reads), then times the real
adapter's ``ticks_after``: the one-off scan a new owner makes when it takes
the feed over. Removes what it wrote.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import redis  # noqa: E402

from app.adapters.redis.clients import make_client  # noqa: E402
from app.adapters.redis.keys import RedisKeys  # noqa: E402
from app.adapters.redis.tick_cache import RedisTickCache  # noqa: E402
from app.config.loader import load_config  # noqa: E402
from app.domain.buckets import CacheBatch  # noqa: E402
from app.domain.feed_map import FeedMap  # noqa: E402
from app.domain.minutes import SealMark  # noqa: E402
from app.domain.tick import Tick  # noqa: E402

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT", "DOGEUSDT"]
FEED, OTHER = "bench-exchange1", "bench-exchange2"
CRASHED, LIVE = 0xDEAD, 0x11FE  # the leases the two runs read the feed under


def fill(cache: RedisTickCache, exchange: str, lease: int, count: int, now_ms: int) -> None:
    batch = []
    for seq in range(1, count + 1):
        symbol = SYMBOLS[seq % len(SYMBOLS)]
        ts = now_ms - 240_000 + seq * 240_000 // count
        batch.append(Tick(exchange, symbol, 100.0 + seq % 997, ts, seq, lease=lease))
        if len(batch) == 5000:
            cache.write(CacheBatch(batch, []))
            batch = []
    if batch:
        cache.write(CacheBatch(batch, []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached", type=int, default=300_000, help="ticks the crashed run left in Redis")
    parser.add_argument("--unsealed", type=int, default=50_000, help="how many of them its last seal missed")
    args = parser.parse_args()
    config = load_config()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = make_client(config.redis, 10.0)
    crashed, live = (
        RedisTickCache(client, client, RedisKeys(prefix, False), 360_000, 1.0, run, FeedMap())
        for run in ("crashed1", "live0002")
    )
    try:
        now_ms = int(time.time() * 1000)
        fill(crashed, FEED, CRASHED, args.cached, now_ms)
        fill(live, FEED, LIVE, args.cached, now_ms)
        fill(crashed, OTHER, CRASHED, args.cached, now_ms)
        started = time.perf_counter()
        found = live.ticks_after(FEED, [SealMark(CRASHED, args.cached - args.unsealed)])
        took = time.perf_counter() - started
    finally:
        raw = redis.Redis.from_url(config.redis.url)
        for key in raw.scan_iter(match=f"{prefix}:*"):
            raw.delete(key)
    members = 2 * args.cached
    print(f"cached members scanned  {members:,} of the feed ({args.cached:,} per run, 2 runs; another feed's skipped)")
    print(f"unsealed ticks found    {len(found):,} (expected {args.unsealed:,})")
    print(f"scan time               {took:.2f} s ({members / took:,.0f} members/s)")


if __name__ == "__main__":
    main()
