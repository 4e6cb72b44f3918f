"""The Lua scripts of the Redis backend: each change that reads before it writes is one script.

A script runs alone on the server, so it is one atomic step for every process and host sharing
the database. Times are the server's ``TIME`` in milliseconds, one clock for every host.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: fence counter, set of leased ids, then one lease hash per candidate.
# ARGV: owner, ttl (ms), then the candidates' ids in the same order as their hashes.
ACQUIRE = (
    _NOW
    + """
for i = 3, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'owner', 'fence', 'expires_at', 'session_id', 'message_id',
                       'released', 'free_at')
  local released = (not h[6]) or h[6] == '1'
  if (tonumber(h[7]) or 0) <= now and (released or tonumber(h[3]) <= now) then
    local fence = redis.call('INCR', KEYS[1])
    local expires = now + tonumber(ARGV[2])
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'owner', ARGV[1], 'fence', fence, 'acquired_at', now,
               'expires_at', expires, 'released', '0', 'free_at', 0)
    redis.call('SADD', KEYS[2], ARGV[i])
    if released or not h[4] then
      return {ARGV[i], fence, now, expires}
    end
    return {ARGV[i], fence, now, expires, h[4], h[5] or '', h[1], h[2]}
  end
end
return false
"""
)

# KEYS: the lease hash, the release counter (also the channel releases are published on).
# ARGV: fence, then 'renew' ttl | 'note' session message | 'release' pause (ms).
UPDATE_LIVE = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'fence', 'released', 'expires_at')
if h[1] ~= ARGV[1] or h[2] ~= '0' or tonumber(h[3]) <= now then
  return false
end
if ARGV[2] == 'renew' then
  redis.call('HSET', KEYS[1], 'expires_at', now + tonumber(ARGV[3]))
elseif ARGV[2] == 'note' then
  redis.call('HSET', KEYS[1], 'session_id', ARGV[3], 'message_id', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'released', '1', 'free_at', now + tonumber(ARGV[3]))
  redis.call('HDEL', KEYS[1], 'session_id', 'message_id')
  redis.call('PUBLISH', KEYS[2], redis.call('INCR', KEYS[2]))
end
return redis.call('HMGET', KEYS[1], 'owner', 'fence', 'acquired_at', 'expires_at', 'session_id', 'message_id')
"""
)

# KEYS: the lease hash, the account record, the set of account ids, the release counter.
# ARGV: fence, id, record JSON, and a pause (ms) to also release the lease (as UPDATE_LIVE does).
REPORT = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'fence', 'released', 'expires_at')
if h[1] ~= ARGV[1] or h[2] ~= '0' or tonumber(h[3]) <= now then
  return 0
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[2])
if ARGV[4] then
  redis.call('HSET', KEYS[1], 'released', '1', 'free_at', now + tonumber(ARGV[4]))
  redis.call('HDEL', KEYS[1], 'session_id', 'message_id')
  redis.call('PUBLISH', KEYS[4], redis.call('INCR', KEYS[4]))
end
return 1
"""
)

# KEYS: keys by name, names by digest. ARGV: name, digest, record JSON.
CREATE_KEY = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local record = cjson.decode(current)
  if record.revoked_at == cjson.null then
    return 0
  end
  redis.call('HDEL', KEYS[2], record.digest)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: a hash. ARGV: field, the value expected, the new value. Compare and set.
SWAP = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# KEYS: the Principal's window (sorted set of hit times). ARGV: limit, window (ms), a unique member.
# Returns -1 (counted) or the milliseconds until one more hit would be allowed.
HIT = (
    _NOW
    + """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(0, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""
)

# KEYS: the Principal's tickets (sorted set by expiry). ARGV: limit, ticket, ttl (ms).
ENTER = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return 1
"""
)

# KEYS: moves hash, their order (sorted set), a sequence. ARGV: field, new id, how many to keep.
MOVED = """
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #gone, 2 do
    redis.call('HDEL', KEYS[1], gone[i])
  end
end
return 1
"""

# Stored responses. Every script gets KEYS: by last use, by expiry (sorted sets), the byte
# total, a sequence; ARGV[1]: the key prefix, from which a response's hash and its owner's set
# are named (their names depend on the data, as eviction finds them).
_RESPONSES = (
    _NOW
    + """
local by_use, by_expiry, total, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix = ARGV[1]
local function drop(id)
  local h = redis.call('HMGET', prefix .. 'resp:' .. id, 'owner', 'size')
  if h[1] then
    redis.call('DEL', prefix .. 'resp:' .. id)
    redis.call('DECRBY', total, tonumber(h[2]))
    redis.call('ZREM', prefix .. 'resp-owner:' .. h[1], id)
  end
  redis.call('ZREM', by_use, id)
  redis.call('ZREM', by_expiry, id)
end
"""
)

# ARGV: prefix, id, owner, body, conversation, size, created (ms), expires (ms), max count, max
# bytes, max per owner.
PUT_RESPONSE = (
    _RESPONSES
    + """
local id, owner = ARGV[2], ARGV[3]
for _, stale in ipairs(redis.call('ZRANGEBYSCORE', by_expiry, '-inf', now)) do
  drop(stale)
end
drop(id)
local n = redis.call('INCR', seq)
redis.call('HSET', prefix .. 'resp:' .. id, 'owner', owner, 'body', ARGV[4], 'conversation', ARGV[5],
           'size', ARGV[6], 'created_at', ARGV[7], 'expires_at', ARGV[8])
redis.call('INCRBY', total, tonumber(ARGV[6]))
redis.call('ZADD', by_use, n, id)
redis.call('ZADD', by_expiry, tonumber(ARGV[8]), id)
local mine = prefix .. 'resp-owner:' .. owner
redis.call('ZADD', mine, n, id)
local excess = redis.call('ZCARD', mine) - tonumber(ARGV[11])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', mine, 0, excess - 1)) do
    drop(old)
  end
end
while redis.call('ZCARD', by_use) > 1 and (redis.call('ZCARD', by_use) > tonumber(ARGV[9])
      or tonumber(redis.call('GET', total) or '0') > tonumber(ARGV[10])) do
  drop(redis.call('ZRANGE', by_use, 0, 0)[1])
end
return 1
"""
)

# ARGV: prefix, id, owner. Returns body, conversation, created, expires; or nil.
GET_RESPONSE = (
    _RESPONSES
    + """
local id = ARGV[2]
local h = redis.call('HMGET', prefix .. 'resp:' .. id, 'owner', 'body', 'conversation', 'created_at',
                     'expires_at')
if not h[1] or h[1] ~= ARGV[3] then
  return false
end
if tonumber(h[5]) <= now then
  drop(id)
  return false
end
local n = redis.call('INCR', seq)
redis.call('ZADD', by_use, n, id)
redis.call('ZADD', prefix .. 'resp-owner:' .. h[1], n, id)
return {h[2], h[3], h[4], h[5]}
"""
)

# ARGV: prefix, id, owner. Returns 1 if deleted.
DELETE_RESPONSE = (
    _RESPONSES
    + """
if redis.call('HGET', prefix .. 'resp:' .. ARGV[2], 'owner') ~= ARGV[3] then
  return 0
end
drop(ARGV[2])
return 1
"""
)
