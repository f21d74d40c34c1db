"""Lua scripts of `RedisStore`: the compare-then-act steps that must be atomic across processes.

Each script touches keys of one Redis Cluster slot only (a thread's keys share a hash tag).
"""

DONE = "D"
LEASED = "L:"

# KEYS[1] claim; ARGV[1] lease value, ARGV[2] lease ms.
CLAIM = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'claimed'
end
if v == 'D' then return 'done' end
return 'in_progress'
"""

# KEYS[1] claim or lease; ARGV[1] expected value, ARGV[2] new lease ms.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] claim or lease; ARGV[1] expected value.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] claim; ARGV[1] owner's lease value, ARGV[2] done ttl ms.
# Done keeps its TTL; a live lease of another owner is left alone (that owner completes it).
COMPLETE = """
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'D', 'PX', ARGV[2])
return 1
"""

# KEYS[1] zset, KEYS[2] payload hash, KEYS[3] thread state; ARGV[1] score, ARGV[2] ts,
# ARGV[3] payload, ARGV[4] queue ms, ARGV[5] state JSON to set if the thread has none ("" =
# leave it), ARGV[6] its ttl ms. Returns 1 when queued, 0 when the ts was already pending.
ENQUEUE = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'NX', 'PX', ARGV[6]) end
return 1
"""

# KEYS[1] zset, KEYS[2] payload hash; ARGV[1] ts, ARGV[2] payload. Only for a pending turn.
UPDATE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# KEYS[1] zset, KEYS[2] payload hash. Drops orphans (e.g. one of the two keys evicted).
PEEK = """
while true do
  local m = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #m == 0 then return false end
  local p = redis.call('HGET', KEYS[2], m[1])
  if p then return {m[1], p} end
  redis.call('ZREM', KEYS[1], m[1])
end
"""


# KEYS[1] bucket hash; ARGV[1] tokens per second, ARGV[2] capacity. Server time, so every
# process agrees. Returns the wait in seconds as a string (0 = a token was taken).
TAKE_TOKEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'stamp', 'paused')
local tokens = tonumber(v[1]) or cap
local stamp = tonumber(v[2]) or now
local paused = tonumber(v[3]) or 0
tokens = math.min(cap, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if paused > now then wait = paused - now end
if tokens < 1 then wait = math.max(wait, (1 - tokens) / rate) end
if wait <= 0 then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], 600000)
return tostring(wait)
"""

# KEYS[1] bucket hash; ARGV[1] pause seconds.
PAUSE_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused')) or 0
if until_ > paused then redis.call('HSET', KEYS[1], 'paused', tostring(until_)) end
redis.call('PEXPIRE', KEYS[1], 600000)
return 1
"""
