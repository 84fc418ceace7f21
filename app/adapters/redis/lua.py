"""The Lua scripts the tick cache runs inside Redis.

Scripts run atomically, which is what makes a bucket's replacement and a
window's read consistent snapshots; they are sent inline (EVAL) inside
pipelines, where a registered script would cost an extra round trip.

Bucket members are ``<run>|<second>|<count>|<sum>|<low>|<low ts>|<high>|
<high ts>|<first>|<first ts>|<last>|<last ts>|<raw complete 0/1>`` with
score = the second's start (ms). Each process writes its own member per
second, so two processes that both saw a second (a feed changing hands)
add up instead of overwriting each other.
"""

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

# KEYS: bucket key and tick key per exchange, then this process's mark. ARGV: after, to (ms).
# Returns {'lost'} without the mark; else {mark, then per exchange: count, sum, low, low ts, high,
# high ts, 1 if an edge second had lost its raw ticks}. Whole seconds count from their buckets; a
# second the window cuts between two of its ticks counts from its raw ticks.
WINDOW = """
local after, to = tonumber(ARGV[1]), tonumber(ARGV[2])
local mark = redis.call('GET', KEYS[#KEYS])
if not mark then return {'lost'} end
local function fmt(x) return string.format('%.17g', x) end
local out = {mark}
for e = 1, (#KEYS - 1) / 2 do
  local n, total, lost, low, low_ts, high, high_ts = 0, 0, 0, 0, 0, 0, 0
  local function add(count, sum, lo, lo_ts, hi, hi_ts)
    if n == 0 or lo < low or (lo == low and lo_ts > low_ts) then low, low_ts = lo, lo_ts end
    if n == 0 or hi > high or (hi == high and hi_ts > high_ts) then high, high_ts = hi, hi_ts end
    n, total = n + count, total + sum
  end
  local rows = redis.call('ZRANGEBYSCORE', KEYS[2 * e - 1], (after + 1) - (after + 1) % 1000, to)
  local i = 1
  while i <= #rows do
    local group, second, first_ts, last_ts, complete = {}, nil, nil, nil, true
    while i <= #rows do
      local f = {}
      for part in string.gmatch(rows[i], '[^|]+') do f[#f + 1] = part end
      if #f == 13 then
        if second and f[2] ~= second then break end
        second = f[2]
        local b = {tonumber(f[3]), tonumber(f[4]), tonumber(f[5]), tonumber(f[6]), tonumber(f[7]), tonumber(f[8])}
        local b_first, b_last = tonumber(f[10]), tonumber(f[12])
        if not first_ts or b_first < first_ts then first_ts = b_first end
        if not last_ts or b_last > last_ts then last_ts = b_last end
        complete = complete and f[13] == '1'
        group[#group + 1] = b
      end
      i = i + 1
    end
    if second then
      if first_ts > after and last_ts <= to then
        for _, b in ipairs(group) do add(b[1], b[2], b[3], b[4], b[5], b[6]) end
      elseif last_ts > after and first_ts <= to then
        if not complete then lost = 1 end
        local start = tonumber(second)
        local raw = redis.call('ZRANGEBYSCORE', KEYS[2 * e], '(' .. fmt(math.max(after, start - 1)),
                               fmt(math.min(to, start + 999)), 'WITHSCORES')
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
