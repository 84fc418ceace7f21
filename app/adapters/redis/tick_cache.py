"""The ``TickCache`` port on Redis.

Keys (``<p>`` is ``redis.key_prefix``):
- ``<p>:latest:<SYMBOL>``: hash, field = exchange, value = ``<ts_ms>:<price>``,
  and ``:<trade id>`` when the exchange gave one (where a feed's next owner
  resumes its backfill: ``last_trades``); a script replaces a value only
  with a tick at least as new, so batches written out of order (or again)
  never move the latest price backwards.
- ``<p>:ticks:<exchange>:<SYMBOL>``: sorted set, score = trade ts (ms), member =
  ``<price>:<lease hex>:<seq hex>[:<quantity>]``: unique per tick, so equal trades are all
  kept, and the same per write, so writing a tick again changes nothing. The
  lease (the fencing token the feed was read under) names one process's
  tenure of the feed, which is how a feed's next owner finds the ticks no
  stored batch holds (``ticks_after``).
- ``<p>:minutes:…``, ``<p>:seconds:…`` and ``<p>:tenths:<exchange>:<SYMBOL>``:
  sorted sets of buckets per minute, second and tenth of a second
  (``lua.py`` has the format), score = the bucket's start (ms); each
  process's bucket is replaced whole on every write.
- ``<p>:complete:<feed>``: the feed's mark (a feed is an exchange, or the
  shard of it that holds a symbol: ``domain.feed_map``), value = the ms from
  which the cache holds its data completely, set by the feed's owner. Redis
  restarted empty loses it: the owner then writes its window back, and
  readers (in every process) meanwhile leave that feed out of cached
  answers instead of trusting an empty cache.
Every write trims what is older than the retention and refreshes a TTL,
so no key grows without bound or outlives its data.

Reads and writes use separate connection pools, timeouts and breakers: a
slow window read never marks Redis down for the writer.
"""

import contextlib
import math
import struct
import time
from collections.abc import Sequence

import gevent
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.adapters.breaker import Breaker
from app.adapters.redis.lua import ADD_TICKS, BUCKET_FORMAT, REPLACE_BUCKETS, SET_IF_NEWER, WINDOW
from app.config.schema import RedisConfig
from app.domain.buckets import Bucket, CacheBatch
from app.domain.feed_map import FeedMap
from app.domain.minutes import SealMark
from app.domain.missed_trades import TradeMark
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.stats import PriceStats, merge_at
from app.domain.tick import Tick
from app.domain.time_grid import MS_PER_MINUTE, MS_PER_SECOND, MS_PER_TENTH
from app.domain.window import GRAINS, split_window

EDGE_RAW_LOST = "raw ticks of a second at the window's edge were lost with Redis (written back without them)"
LOST_SINCE = "Redis lost its data while this process ran: older ticks are only those this process still held"


def make_client(config: RedisConfig, timeout: float) -> redis.Redis:
    """A client that never blocks for long: pool waits, connects and reads all time out."""
    pool = redis.BlockingConnectionPool.from_url(
        config.url,
        max_connections=config.pool_size,
        timeout=config.pool_timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


_SCAN_PAGE = 10_000
GRAIN_NAMES = {MS_PER_MINUTE: "minutes", MS_PER_SECOND: "seconds", MS_PER_TENTH: "tenths"}


def _bucket_member(tag: bytes, bucket: Bucket) -> bytes:
    s = bucket.stats
    fields = (bucket.start_ms, s.count, s.total, s.low, s.low_ts, s.high, s.high_ts, s.first, s.first_ts, s.last)
    volume = math.nan if s.volume is None else s.volume
    return tag + struct.pack(BUCKET_FORMAT, *fields, s.last_ts, volume, s.notional, bucket.raw_complete)


_BUCKET = struct.Struct(BUCKET_FORMAT)


def _unpack_bucket(exchange: str, member: bytes) -> tuple[int, PriceStats] | None:
    """A bucket member's start and stats; None for a member in another format (not written by this version)."""
    packed = member[member.find(b"|") + 1 :]
    if len(packed) != _BUCKET.size:
        return None
    start, n, total, low, low_ts, high, high_ts, first, first_ts, last, last_ts, volume, notional, _ = _BUCKET.unpack(
        packed
    )
    stats = PriceStats()
    stats.count, stats.total = int(n), total
    stats.low, stats.low_ts, stats.low_exchange = low, int(low_ts), exchange
    stats.high, stats.high_ts, stats.high_exchange = high, int(high_ts), exchange
    stats.first, stats.first_ts, stats.last, stats.last_ts = first, int(first_ts), last, int(last_ts)
    if not math.isnan(volume):
        stats.volume, stats.notional = volume, notional
    return int(start), stats


def _tick_member(tick: Tick) -> str:
    """Unique per tick and the same on every write of it; a quantity rides along for a successor's replay."""
    member = f"{tick.price!r}:{tick.lease:x}:{tick.seq:x}"
    return member if tick.quantity is None else f"{member}:{tick.quantity!r}"


def _latest_value(tick: Tick) -> str:
    value = f"{tick.ts_ms}:{tick.price!r}"
    return value if tick.trade_id is None else f"{value}:{tick.trade_id}"


def _stats(exchange: str, fields: Sequence[bytes]) -> PriceStats:
    stats = PriceStats()
    count = int(float(fields[0]))
    if count:
        stats.count, stats.total = count, float(fields[1])
        stats.low, stats.low_ts, stats.low_exchange = float(fields[2]), int(float(fields[3])), exchange
        stats.high, stats.high_ts, stats.high_exchange = float(fields[4]), int(float(fields[5])), exchange
    return stats


class RedisTickCache:
    def __init__(
        self,
        writer: redis.Redis,
        reader: redis.Redis,
        prefix: str,
        retention_ms: int,
        retry_after: float,
        run: str,
        feeds: FeedMap,
    ) -> None:
        self._feeds = feeds
        self._writer = writer
        self._reader = reader
        self._prefix = prefix
        self._retention_ms = retention_ms
        self._ttl_ms = retention_ms + MS_PER_MINUTE
        self._write_breaker = Breaker("redis", retry_after, (redis.RedisError, OSError))
        self._read_breaker = Breaker("redis", retry_after, (redis.RedisError, OSError))
        self._run = run
        self._window_script = reader.register_script(WINDOW)

    def _mark_key(self, feed: str) -> str:
        return f"{self._prefix}:complete:{feed}"

    def _symbol_marks(self, symbol: str, exchanges: Sequence[str]) -> list[str]:
        """The marks of the feeds that hold ``symbol`` on each exchange, in the exchanges' order."""
        return [self._mark_key(self._feeds.feed_of(exchange, symbol)) for exchange in exchanges]

    def _ticks_key(self, exchange: str, symbol: str) -> str:
        return f"{self._prefix}:ticks:{exchange}:{symbol}"

    def _buckets_key(self, grain_ms: int, exchange: str, symbol: str) -> str:
        return f"{self._prefix}:{GRAIN_NAMES[grain_ms]}:{exchange}:{symbol}"

    def _latest_key(self, symbol: str) -> str:
        return f"{self._prefix}:latest:{symbol}"

    def write(self, batch: CacheBatch) -> bool:
        groups: dict[str, dict[str, int]] = {}  # per ticks key, its members and their scores
        newest: dict[tuple[str, str], Tick] = {}
        run = self._run
        for tick in batch.ticks:
            pair = (tick.exchange, tick.symbol)
            key = self._ticks_key(*pair)
            members = groups.get(key)
            if members is None:
                members = groups[key] = {}
            members[_tick_member(tick)] = tick.ts_ms
            best = newest.get(pair)
            if best is None or tick.ts_ms >= best.ts_ms:
                newest[pair] = tick
        cutoff = int(time.time() * 1000) - self._retention_ms
        tick_args: list[object] = [cutoff, self._ttl_ms]
        for members in groups.values():
            tick_args.append(len(members))
            for member, score in members.items():
                tick_args.extend((score, member))
        tag = f"{run}|".encode()
        # Per grain: the keys, then tag, trim bound (a bucket stays while any ms of it is retained), TTL, buckets.
        bucket_calls: dict[int, tuple[list[str], list[object]]] = {}
        for bucket in batch.buckets:
            grain = bucket.grain_ms
            if grain not in bucket_calls:
                bucket_calls[grain] = ([], [tag, cutoff - grain + 1, self._ttl_ms])
            keys, args = bucket_calls[grain]
            keys.append(self._buckets_key(grain, bucket.exchange, bucket.symbol))
            args.extend((bucket.start_ms, _bucket_member(tag, bucket)))

        marks = [self._mark_key(feed) for feed in {tick.feed for tick in batch.ticks}]

        def send() -> bool:
            pipe = self._writer.pipeline(transaction=False)
            pipe.exists(*marks)
            # Raw ticks before buckets: a reader then sees each second either before or after this batch.
            pipe.eval(ADD_TICKS, len(groups), *groups, *tick_args)
            for keys, args in bucket_calls.values():
                pipe.eval(REPLACE_BUCKETS, len(keys), *keys, *args)
            if newest:
                args: list[object] = []
                for tick in newest.values():
                    args.extend((tick.exchange, tick.ts_ms, _latest_value(tick)))
                keys = [self._latest_key(tick.symbol) for tick in newest.values()]
                pipe.eval(SET_IF_NEWER, len(keys), *keys, *args)
            for mark in marks:
                pipe.pexpire(mark, self._ttl_ms)
            return pipe.execute()[0] == len(marks)

        if not groups:
            return True
        return self._write_breaker.call(send)

    def mark(self, since_ms: int, feeds: Sequence[str]) -> None:
        def send() -> None:
            pipe = self._writer.pipeline(transaction=False)
            for feed in feeds:
                pipe.set(self._mark_key(feed), since_ms, px=self._ttl_ms, nx=True)
            pipe.execute()

        if feeds:
            self._write_breaker.call(send)

    def latest(self, symbol: str, exchanges: Sequence[str]) -> tuple[list[LatestPrice], tuple[str, ...]]:
        def fetch() -> list:
            pipe = self._reader.pipeline(transaction=False)
            pipe.mget(self._symbol_marks(symbol, exchanges))
            pipe.hmget(self._latest_key(symbol), list(exchanges))
            return pipe.execute()

        marks, values = self._read_breaker.call(fetch)
        lost = tuple(exchange for exchange, mark in zip(exchanges, marks, strict=True) if mark is None)
        found = []
        for exchange, value in zip(exchanges, values, strict=True):
            if value is not None and exchange not in lost:
                with contextlib.suppress(ValueError):  # a value marketflow did not write
                    ts, price = value.split(b":", 2)[:2]
                    found.append(LatestPrice(exchange, float(price), int(ts)))
        return found, lost

    def last_trades(self, exchange: str, symbols: Sequence[str], since_ms: int) -> dict[str, TradeMark]:
        def fetch() -> list:
            pipe = self._reader.pipeline(transaction=False)
            for symbol in symbols:
                pipe.hget(self._latest_key(symbol), exchange)
            return pipe.execute()

        found = {}
        for symbol, value in zip(symbols, self._read_breaker.call(fetch) if symbols else [], strict=True):
            parts = (value or b"").split(b":", 2)
            with contextlib.suppress(ValueError):  # none, none with an id, or a value marketflow did not write
                ts, _, trade_id = parts
                if int(ts) >= since_ms:
                    found[symbol] = TradeMark(trade_id.decode(errors="replace"), int(ts))
        return found

    def window(self, symbol: str, exchanges: Sequence[str], after_ms: int, to_ms: int) -> WindowRead:
        keys = [
            key
            for ex, mark in zip(exchanges, self._symbol_marks(symbol, exchanges), strict=True)
            for key in (*(self._buckets_key(grain, ex, symbol) for grain in GRAINS), self._ticks_key(ex, symbol), mark)
        ]
        split = split_window(after_ms, to_ms)
        args: list[int] = [len(split.whole)]
        for grain, first, end in split.whole:
            args.extend((GRAINS.index(grain) + 1, first, end))
        for after, to in split.edges:
            args.extend((after, to))
        reply = self._read_breaker.call(lambda: self._window_script(keys=keys, args=args))
        read = WindowRead({})
        lost = []
        for i, exchange in enumerate(exchanges):
            mark, *fields = reply[8 * i : 8 + 8 * i]
            if mark == b"lost":
                lost.append(exchange)
                continue
            read.stats[exchange] = _stats(exchange, fields)
            if fields[6]:
                read.mark_partial(EDGE_RAW_LOST)
            if after_ms + 1 < int(mark):
                read.mark_partial(LOST_SINCE)
        read.lost = tuple(lost)
        return read

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        """One range read per exchange, unpacked here: each process's member of a bucket adds to the others."""

        def fetch() -> list:
            pipe = self._reader.pipeline(transaction=False)
            pipe.mget(self._symbol_marks(symbol, exchanges))
            for exchange in exchanges:
                pipe.zrangebyscore(self._buckets_key(grain_ms, exchange, symbol), from_ms, to_ms - 1)
            return pipe.execute()

        if not exchanges:
            return BucketRead({})
        marks, *replies = self._read_breaker.call(fetch)
        read = BucketRead({})
        lost = []
        for exchange, mark, members in zip(exchanges, marks, replies, strict=True):
            if mark is None:
                lost.append(exchange)
                continue
            for member in members:
                bucket = _unpack_bucket(exchange, member)
                if bucket is not None:
                    merge_at(read.buckets, *bucket)
            if from_ms < int(mark):
                read.mark_partial(LOST_SINCE)
            gevent.sleep(0)  # at most the retention's buckets per exchange, but let others in between
        read.lost = tuple(lost)
        return read

    def ticks_after(self, feed: str, marks: Sequence[SealMark]) -> list[Tick]:
        if not marks:
            return []
        return self._write_breaker.call(lambda: self._scan_for(feed, marks))

    def _scan_for(self, feed: str, marks: Sequence[SealMark]) -> list[Tick]:
        """Every retained member of the feed's tick keys: a one-off when a feed is taken over.

        A shard's keys are its exchange's whose symbol it holds (the others' leases would not match anyway).

        Members are read without scores (parsing scores is most of the cost);
        only the members found then have their scores (trade times) fetched.
        """
        key_start = len(self._prefix) + len(":ticks:")
        after = {f"{mark.lease:x}".encode(): mark.seq for mark in marks}
        found = []
        client = self._writer
        exchange = self._feeds.exchange_of(feed)
        for key in client.scan_iter(match=f"{self._prefix}:ticks:{exchange}:*", count=500):
            symbol = key[key_start:].decode().rsplit(":", 1)[1]
            if self._feeds.feed_of(exchange, symbol) != feed:
                continue
            unsealed = self._unsealed_members(key, after)
            members = list(unsealed)
            for first in range(0, len(members), _SCAN_PAGE):
                chunk = members[first : first + _SCAN_PAGE]
                for member, score in zip(chunk, client.zmscore(key, chunk), strict=True):
                    if score is not None:  # trimmed meanwhile: too old to matter
                        price, lease, seq, quantity = unsealed[member]
                        found.append(Tick(exchange, symbol, price, int(score), seq, quantity, lease=lease, feed=feed))
        return found

    def _unsealed_members(
        self, key: bytes, after: dict[bytes, int]
    ) -> dict[bytes, tuple[float, int, int, float | None]]:
        """``(price, lease, seq, quantity)`` of the key's members read under one of the leases, past its seq.

        Newest first by rank: the live process meanwhile trims the oldest and
        adds new ones, which can show a member twice (the dict keeps one) but
        never hide one.
        """
        unsealed: dict[bytes, tuple[float, int, int, float | None]] = {}
        start = 0
        while page := self._writer.zrange(key, start, start + _SCAN_PAGE - 1, desc=True):
            start += len(page)
            for member in page:
                try:
                    price, lease_hex, seq_hex, *quantity = member.split(b":")
                    bound = after.get(lease_hex)
                    if bound is None:
                        continue
                    seq = int(seq_hex, 16)
                    if seq > bound:
                        amount = float(quantity[0]) if quantity else None
                        unsealed[member] = (float(price), int(lease_hex, 16), seq, amount)
                except ValueError:  # not a member we wrote: skip it
                    continue
            gevent.sleep(0)
        return unsealed

    def ping(self) -> float:
        started = time.perf_counter()
        self._read_breaker.call(self._reader.ping)
        return time.perf_counter() - started
