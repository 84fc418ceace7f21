"""The ``TickCache`` port on Redis.

Keys (names and hash tags in ``keys.py``; ``<pair>`` is ``{<exchange>:<SYMBOL>}``):
- ``<p>:latest:{<SYMBOL>}``: hash, field = exchange, value = ``<ts_ms>:<price>``,
  and ``:<trade id>`` when the exchange gave one (where a feed's next owner
  resumes its backfill: ``last_trades``); a script replaces a value only
  with a tick at least as new, so batches written out of order (or again)
  never move the latest price backwards.
- ``<p>:ticks:<pair>``: sorted set, score = trade ts (ms), member =
  ``<price>:<lease hex>:<seq hex>[:<quantity>]``: unique per tick, so equal trades are all
  kept, and the same per write, so writing a tick again changes nothing. The
  lease (the fencing token the feed was read under) names one process's
  tenure of the feed, which is how a feed's next owner finds the ticks no
  stored batch holds (``ticks_after``).
- ``<p>:minutes:<pair>``, ``<p>:seconds:<pair>`` and ``<p>:tenths:<pair>``:
  sorted sets of buckets per minute, second and tenth of a second
  (``lua.py`` has the format), score = the bucket's start (ms); each
  process's bucket is replaced whole on every write.
- ``<p>:complete:{<feed>}``: the feed's mark (a feed is an exchange, or the
  shard of it that holds a symbol: ``domain.feed_map``), value = the ms from
  which the cache holds its data completely, set by the feed's owner. Redis
  restarted empty loses it: the owner then writes its window back, and
  readers (in every process) meanwhile leave that feed out of cached
  answers instead of trusting an empty cache.
- ``<p>:seal:<pair>`` (on a cluster only): ``<run>:<write n>``, set last by
  each write of the pair and read back by the next (``SET ... GET``). A
  promoted replica that missed the end of the pair's writes (asynchronous
  replication) shows an older seal, or none; replication keeps each node's
  writes in order, so a seal that survived proves everything before it did.
  The writer then drops the marks of those pairs' feeds, as if Redis had
  restarted empty, and writes its window back.
Every write trims what is older than the retention and refreshes a TTL
(inside the scripts that write: one call per batch, or per slot on a cluster),
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

from app.adapters.breaker import Breaker
from app.adapters.redis.clients import REDIS_ERRORS, Client, queue_script
from app.adapters.redis.keys import RedisKeys
from app.adapters.redis.lua import ADD_TICKS, BUCKET_FORMAT, REPLACE_BUCKETS, SET_IF_NEWER, WINDOW, WINDOW_SHA
from app.domain.buckets import Bucket, CacheBatch
from app.domain.feed_map import FeedMap
from app.domain.minutes import SealMark
from app.domain.missed_trades import TradeMark
from app.domain.recent_reads import BucketRead, LatestPrice, WindowRead
from app.domain.stats import PriceStats, merge_at
from app.domain.tick import Tick
from app.domain.time_grid import MS_PER_MINUTE, MS_PER_SECOND, MS_PER_TENTH, seconds_to_ms
from app.domain.window import GRAINS, split_window

EDGE_RAW_LOST = "raw ticks of a second at the window's edge were lost with Redis (written back without them)"
LOST_SINCE = "Redis lost its data while this process ran: older ticks are only those this process still held"


_SCAN_PAGE = 10_000
_SEALS_KEPT = 8
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


def _mark(value: bytes) -> bytes | None:
    """A mark as the window script returns it: ``lost`` when it is gone."""
    return None if value == b"lost" else value


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
        writer: Client,
        reader: Client,
        keys: RedisKeys,
        retention_ms: int,
        retry_after: float,
        run: str,
        feeds: FeedMap,
    ) -> None:
        self._feeds = feeds
        self._writer = writer
        self._reader = reader
        self._keys = keys
        self._retention_ms = retention_ms
        self._ttl_ms = retention_ms + MS_PER_MINUTE
        self._write_breaker = Breaker("redis", retry_after, REDIS_ERRORS)
        self._read_breaker = Breaker("redis", retry_after, REDIS_ERRORS)
        self._run = run
        # On a cluster: per pair, the seals it may hold after this process's last writes to it (the last that
        # succeeded, and those sent since: a write that failed may have reached some nodes), and when.
        self._seals: dict[tuple[str, str], tuple[tuple[bytes, ...], float]] = {}
        self._writes = 0
        self._window_script = reader.register_script(WINDOW)

    def _mark_key(self, feed: str) -> str:
        return self._keys.mark(feed)

    def _symbol_marks(self, symbol: str, exchanges: Sequence[str]) -> list[str]:
        """The marks of the feeds that hold ``symbol`` on each exchange, in the exchanges' order."""
        return [self._mark_key(self._feeds.feed_of(exchange, symbol)) for exchange in exchanges]

    def _ticks_key(self, exchange: str, symbol: str) -> str:
        return self._keys.ticks(exchange, symbol)

    def _buckets_key(self, grain_ms: int, exchange: str, symbol: str) -> str:
        return self._keys.buckets(GRAIN_NAMES[grain_ms], exchange, symbol)

    def _latest_key(self, symbol: str) -> str:
        return self._keys.latest(symbol)

    def write(self, batch: CacheBatch) -> bool:
        by_pair: dict[tuple[str, str], dict[str, int]] = {}  # per pair, its members and their scores
        newest: dict[tuple[str, str], Tick] = {}
        for tick in batch.ticks:
            pair = (tick.exchange, tick.symbol)
            members = by_pair.get(pair)
            if members is None:
                members = by_pair[pair] = {}
            members[_tick_member(tick)] = tick.ts_ms
            best = newest.get(pair)
            if best is None or tick.ts_ms >= best.ts_ms:
                newest[pair] = tick
        if not by_pair:
            return True
        groups = {self._ticks_key(*pair): members for pair, members in by_pair.items()}  # a key built per pair
        cutoff = seconds_to_ms(time.time()) - self._retention_ms
        tag = f"{self._run}|".encode()
        # Raw ticks: one script call (per slot on a cluster): trim bound, TTL, then per key its count of ticks
        # and their score, member pairs.
        calls: list[tuple[str, list[str], list[object]]] = []
        for tick_group in self._keys.slot_groups(groups.items(), lambda item: item[0]):
            tick_args: list[object] = [cutoff, self._ttl_ms]
            for _, members in tick_group:
                tick_args.append(len(members))
                for member, score in members.items():
                    tick_args.extend((score, member))
            calls.append((ADD_TICKS, [key for key, _ in tick_group], tick_args))
        # One script call per grain (and per slot on a cluster): the keys, then tag, trim bound (a bucket
        # stays while any ms of it is retained), TTL, then score and member per bucket.
        by_grain: dict[int, list[tuple[str, Bucket]]] = {}
        for bucket in batch.buckets:
            name = self._buckets_key(bucket.grain_ms, bucket.exchange, bucket.symbol)
            by_grain.setdefault(bucket.grain_ms, []).append((name, bucket))
        for grain, of_grain in by_grain.items():
            for group in self._keys.slot_groups(of_grain, lambda item: item[0]):
                args: list[object] = [tag, cutoff - grain + 1, self._ttl_ms]
                for _, bucket in group:
                    args.extend((bucket.start_ms, _bucket_member(tag, bucket)))
                calls.append((REPLACE_BUCKETS, [key for key, _ in group], args))
        for group in self._keys.slot_groups(newest.values(), lambda tick: self._latest_key(tick.symbol)):
            args = []
            for tick in group:
                args.extend((tick.exchange, tick.ts_ms, _latest_value(tick)))
            calls.append((SET_IF_NEWER, [self._latest_key(tick.symbol) for tick in group], args))
        marks = [self._mark_key(feed) for feed in {tick.feed for tick in batch.ticks}]
        seals = self._next_seals(newest) if self._keys.cluster else {}

        def send() -> list:
            pipe = self._writer.pipeline(transaction=False)
            for mark in marks:  # 0: the mark is gone
                pipe.pexpire(mark, self._ttl_ms)
            # Raw ticks before buckets (``calls`` has them first): a reader then sees each second either before
            # or after this batch.
            for script, keys, args in calls:
                queue_script(pipe, self._writer, "EVAL", script, keys, args)
            for (exchange, symbol), seal in seals.items():  # last: a seal that survived vouches for the rest
                pipe.set(self._keys.seal(exchange, symbol), seal, px=self._ttl_ms, get=True)
            self._in_flight(seals)
            return pipe.execute()

        replies = self._write_breaker.call(send)
        kept = all(replies[: len(marks)])
        lost = self._lost_pairs(seals, replies[len(replies) - len(seals) :])
        if lost:
            self._write_breaker.call(lambda: self._drop_marks(lost))
        return kept and not lost

    def _next_seals(self, pairs: dict[tuple[str, str], object]) -> dict[tuple[str, str], bytes]:
        self._writes += 1
        seal = f"{self._run}:{self._writes}".encode()
        return dict.fromkeys(pairs, seal)

    def _lost_pairs(self, seals: dict[tuple[str, str], bytes], found: list[bytes | None]) -> list[tuple[str, str]]:
        """The pairs whose seal is not the one this process wrote last (within the keys' TTL): their node
        lost writes. A seal of another run is a feed's new owner writing, not a loss."""
        now = time.monotonic()
        ttl = self._ttl_ms / MS_PER_SECOND
        mine = f"{self._run}:".encode()
        lost = []
        for (pair, seal), old in zip(seals.items(), found, strict=True):
            written = self._seals.get(pair)
            ours = old is None or old.startswith(mine)  # another run's: the feed's new owner wrote since
            if written is not None and now - written[1] < ttl and old not in written[0] and ours:
                lost.append(pair)
            self._seals[pair] = ((seal,), now)
        return lost

    def _in_flight(self, seals: dict[tuple[str, str], bytes]) -> None:
        """Seals about to be sent: until the write succeeds, a node may hold either (kept: the last few)."""
        now = time.monotonic()
        for pair, seal in seals.items():
            before = self._seals.get(pair)
            if before is not None:
                self._seals[pair] = ((*before[0][-_SEALS_KEPT:], seal), now)

    def _drop_marks(self, pairs: list[tuple[str, str]]) -> None:
        """Readers stop trusting the feeds of ``pairs`` until the writer has written them back and marked them."""
        feeds = {self._feeds.feed_of(exchange, symbol) for exchange, symbol in pairs}
        pipe = self._writer.pipeline(transaction=False)
        for feed in feeds:
            pipe.delete(self._mark_key(feed))
        pipe.execute()

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
            for mark in self._symbol_marks(symbol, exchanges):
                pipe.get(mark)
            pipe.hmget(self._latest_key(symbol), list(exchanges))
            return pipe.execute()

        *marks, values = self._read_breaker.call(fetch)
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
        split = split_window(after_ms, to_ms)
        args: list[int] = [len(split.whole)]
        for grain, first, end in split.whole:
            args.extend((GRAINS.index(grain) + 1, first, end))
        for after, to in split.edges:
            args.extend((after, to))
        marks = self._symbol_marks(symbol, exchanges)
        if self._keys.cluster:
            found = self._read_breaker.call(lambda: self._window_by_slot(symbol, exchanges, marks, args))
        else:  # one script reads every exchange and its mark: one call, as fast as a window can be
            keys = [key for ex in exchanges for key in self._pair_keys(ex, symbol)] + marks
            reply = self._read_breaker.call(lambda: self._window_script(keys=keys, args=[len(exchanges), *args]))
            found = {ex: (_mark(reply[8 * i]), reply[8 * i + 1 : 8 + 8 * i]) for i, ex in enumerate(exchanges)}
        read = WindowRead({})
        lost = []
        for exchange in exchanges:
            mark, fields = found[exchange]
            if mark is None:
                lost.append(exchange)
                continue
            read.stats[exchange] = _stats(exchange, fields)
            if fields[6]:
                read.mark_partial(EDGE_RAW_LOST)
            if after_ms + 1 < int(mark):
                read.mark_partial(LOST_SINCE)
        read.lost = tuple(lost)
        return read

    def _pair_keys(self, exchange: str, symbol: str) -> tuple[str, ...]:
        """What the window script reads of a pair: its minute, second and tenth buckets and its raw ticks."""
        return (*(self._buckets_key(grain, exchange, symbol) for grain in GRAINS), self._ticks_key(exchange, symbol))

    def _window_by_slot(
        self, symbol: str, exchanges: Sequence[str], marks: list[str], args: list[int]
    ) -> dict[str, tuple[bytes | None, list]]:
        """On a cluster: the marks, then one script per slot of the pairs' keys, in one pipeline (one round
        trip per node); the script by its SHA1, loaded on every master first if one lacks it (a promoted
        replica: scripts are not replicated). Per exchange: its mark and the script's fields."""
        groups = list(self._keys.slot_groups(exchanges, lambda ex: self._ticks_key(ex, symbol)))

        def fetch() -> list:
            pipe = self._reader.pipeline(transaction=False)
            for mark in marks:
                pipe.get(mark)
            for group in groups:
                keys = [key for ex in group for key in self._pair_keys(ex, symbol)]
                queue_script(pipe, self._reader, "EVALSHA", WINDOW_SHA, keys, [0, *args])
            return pipe.execute()

        try:
            replies = fetch()
        except redis.exceptions.NoScriptError:
            self._reader.script_load(WINDOW)
            replies = fetch()
        fields = {
            ex: reply[7 * i : 7 + 7 * i]
            for group, reply in zip(groups, replies[len(exchanges) :], strict=True)
            for i, ex in enumerate(group)
        }
        return {ex: (mark, fields[ex]) for ex, mark in zip(exchanges, replies[: len(exchanges)], strict=True)}

    def buckets(self, symbol: str, exchanges: Sequence[str], grain_ms: int, from_ms: int, to_ms: int) -> BucketRead:
        """One range read per exchange, unpacked here: each process's member of a bucket adds to the others."""

        def fetch() -> list:
            pipe = self._reader.pipeline(transaction=False)
            for mark in self._symbol_marks(symbol, exchanges):
                pipe.get(mark)
            for exchange in exchanges:
                pipe.zrangebyscore(self._buckets_key(grain_ms, exchange, symbol), from_ms, to_ms - 1)
            return pipe.execute()

        if not exchanges:
            return BucketRead({})
        replies = self._read_breaker.call(fetch)
        marks, replies = replies[: len(exchanges)], replies[len(exchanges) :]
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
        On a cluster the scan visits every master in turn (redis-py's ``scan_iter``), a page of 500 keys
        per round trip: once per takeover, never on the hot path.

        Members are read without scores (parsing scores is most of the cost);
        only the members found then have their scores (trade times) fetched.
        """
        after = {f"{mark.lease:x}".encode(): mark.seq for mark in marks}
        found = []
        client = self._writer
        exchange = self._feeds.exchange_of(feed)
        for key in client.scan_iter(match=self._keys.ticks_pattern(exchange), count=500):
            symbol = self._keys.symbol_of_ticks(key)
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
