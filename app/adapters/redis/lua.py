"""The Lua scripts the Redis adapters run inside Redis (most of them the tick cache's).

Scripts run atomically, which is what makes a bucket's replacement and a
window's read consistent snapshots. The writes' scripts are sent inline
(EVAL) inside pipelines, where a registered script would cost an extra round
trip; the window's, the longest and the one queries send, goes by its SHA1
(EVALSHA) and is loaded when a server says it lacks it.

Bucket members are ``<run>|`` and then, packed little-endian as 13 doubles
and a byte (``struct`` in Redis's Lua, ``struct`` in Python): start, count,
sum, low, low ts, high, high ts, first, first ts, last, last ts, volume
(NaN when no tick had a quantity), notional (sum of price x quantity), raw
complete (0/1); score = the bucket's start (ms). Packed, a bucket decodes in
one C call, which is what keeps a 5-minute window well under a millisecond.
Each process writes its own member per bucket, so two processes that both
saw a second (a feed changing hands) add up instead of overwriting each
other.
"""

import hashlib

BUCKET_FORMAT = "<13dB"


# KEYS: latest hashes; ARGV: field, ts, value per key. Sets each field unless it holds a newer tick;
# a value it cannot read (not written by marketflow) counts as absent.
SET_IF_NEWER = """
for i, key in ipairs(KEYS) do
  local field, ts, value = ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  local current = redis.call('HGET', key, field)
  local current_ts = current and tonumber(string.match(current, '^(%d+):'))
  if not current_ts or current_ts <= ts then
    redis.call('HSET', key, field, value)
  end
end
"""

# KEYS: one ticks key per (exchange, symbol). ARGV: trim cutoff, TTL (ms), then per key the count of its
# ticks and that many score, member pairs. Adds them (a thousand per ZADD, within Lua's unpack limit), trims
# what left the retention and refreshes the TTL: one command per batch instead of three per key.
ADD_TICKS = """
local cutoff, ttl = ARGV[1], ARGV[2]
local at = 3
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  local done = 0
  while done < n do
    local take = math.min(n - done, 1000)
    local args = {}
    for j = 1, 2 * take do args[j] = ARGV[at + 2 * done + j] end
    redis.call('ZADD', key, unpack(args))
    done = done + take
  end
  at = at + 2 * n + 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutoff)
  redis.call('PEXPIRE', key, ttl)
end
"""

# KEYS: one hash; ARGV: field, increment per field. HINCRBY of each (the pair registry's trade counts: thousands
# of pairs a cycle in one call).
ADD_COUNTS = """
for i = 1, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
"""

# KEYS: one bucket key per bucket. ARGV: run tag, trim cutoff, TTL (ms), then score and member per bucket.
# Replaces this run's member of each second, then trims and refreshes every touched key once.
REPLACE_BUCKETS = """
local tag, cutoff, ttl = ARGV[1], ARGV[2], ARGV[3]
local touched = {}
for i, key in ipairs(KEYS) do
  local score, member = ARGV[2 * i + 2], ARGV[2 * i + 3]
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', key, score, score)) do
    if string.sub(old, 1, #tag) == tag then redis.call('ZREM', key, old) end
  end
  redis.call('ZADD', key, score, member)
  touched[key] = true
end
for key in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutoff)
  redis.call('PEXPIRE', key, ttl)
end
"""

# KEYS: per exchange its minutes, seconds, tenths and ticks keys (one pair's: one slot on a cluster), then on
# a single instance each exchange's feed mark. ARGV: how many marks follow the pairs' keys (0 on a cluster,
# where the marks live on other nodes and are read beside the script), then the window's split
# (``split_window``): the count of whole ranges, then (grain 1-3, from, to) for each, then (after, to) per
# edge span. Returns per exchange: its mark if asked ('lost' when the mark is gone), then count, sum, low, low
# ts, high, high ts, 1 if an edge tenth had lost its raw ticks. Whole ranges count from their buckets; an edge
# span counts tenth by tenth, from the raw ticks of a tenth it cuts through.
WINDOW = """
local function fmt(x) return string.format('%.17g', x) end
local function unpack_bucket(member)
  local bar = string.find(member, '|', 1, true)
  if not bar or #member - bar ~= 105 then return nil end
  return {struct.unpack('<dddddddddddddB', member, bar + 1)}
end
local whole, edges = {}, {}
local n_marks, n_whole = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, n_whole do
  whole[i] = {tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])}
end
for i = 3 + 3 * n_whole, #ARGV, 2 do edges[#edges + 1] = {tonumber(ARGV[i]), tonumber(ARGV[i + 1])} end
local out = {}
local n_pairs = (#KEYS - n_marks) / 4
for e = 1, n_pairs do
  local base = 4 * (e - 1)
  local tenths_key, ticks_key = KEYS[base + 3], KEYS[base + 4]
  if n_marks > 0 then out[#out + 1] = redis.call('GET', KEYS[4 * n_pairs + e]) or 'lost' end
  local n, total, lost, low, low_ts, high, high_ts = 0, 0, 0, 0, 0, 0, 0
  local function add(count, sum, lo, lo_ts, hi, hi_ts)
    if n == 0 or lo < low or (lo == low and lo_ts > low_ts) then low, low_ts = lo, lo_ts end
    if n == 0 or hi > high or (hi == high and hi_ts > high_ts) then high, high_ts = hi, hi_ts end
    n, total = n + count, total + sum
  end
  for _, w in ipairs(whole) do
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[base + w[1]], w[2], w[3] - 1)) do
      local b = unpack_bucket(member)
      if b then add(b[2], b[3], b[4], b[5], b[6], b[7]) end
    end
  end
  for _, span in ipairs(edges) do
    local a, t = span[1], span[2]
    local rows = redis.call('ZRANGEBYSCORE', tenths_key, (a + 1) - (a + 1) % 100, t)
    local i = 1
    while i <= #rows do
      -- The buckets of one tenth (one per process that saw it).
      local group, start, first_ts, last_ts, complete = {}, nil, nil, nil, true
      while i <= #rows do
        local b = unpack_bucket(rows[i])
        if b then
          if start and b[1] ~= start then break end
          start = b[1]
          if not first_ts or b[9] < first_ts then first_ts = b[9] end
          if not last_ts or b[11] > last_ts then last_ts = b[11] end
          complete = complete and b[14] == 1
          group[#group + 1] = b
        end
        i = i + 1
      end
      if start then
        if first_ts > a and last_ts <= t then
          for _, b in ipairs(group) do add(b[2], b[3], b[4], b[5], b[6], b[7]) end
        elseif last_ts > a and first_ts <= t then
          if not complete then lost = 1 end
          local raw = redis.call('ZRANGEBYSCORE', ticks_key, '(' .. fmt(math.max(a, start - 1)),
                                 fmt(math.min(t, start + 99)), 'WITHSCORES')
          for k = 1, #raw, 2 do
            local price = tonumber(string.match(raw[k], '^[^:]+'))
            if price then
              local ts = tonumber(raw[k + 1])
              add(1, price, price, ts, price, ts)
            end
          end
        end
      end
    end
  end
  out[#out + 1] = fmt(n)
  out[#out + 1] = fmt(total)
  out[#out + 1] = fmt(low)
  out[#out + 1] = fmt(low_ts)
  out[#out + 1] = fmt(high)
  out[#out + 1] = fmt(high_ts)
  out[#out + 1] = lost
end
return out
"""

WINDOW_SHA = hashlib.sha1(WINDOW.encode()).hexdigest()
