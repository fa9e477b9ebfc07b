"""The Lua scripts of the Redis backend, and the encoding of a write batch for :data:`WRITE`.

Each script names every key it touches in ``KEYS`` except where noted (the admission script and
:data:`FOLLOW` build keys under the caller's prefix), so on a Redis Cluster a hash tag in that prefix keeps
all of them in one slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .ops import WriteOp

# A whole write batch: per key, ARGV holds the op's kind and its arguments (see RedisBackend._encode).
WRITE = """
local i = 1
for k = 1, #KEYS do
  local key, kind = KEYS[k], ARGV[i]
  if kind == 's' then
    if ARGV[i + 2] == '' then redis.call('SET', key, ARGV[i + 1])
    else redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[i + 2]) end
    i = i + 3
  elseif kind == 'i' then
    local amount = ARGV[i + 1]
    if redis.call('INCRBY', key, amount) == tonumber(amount) and ARGV[i + 2] ~= '' then
      redis.call('PEXPIRE', key, ARGV[i + 2])
    end
    i = i + 3
  elseif kind == 'h' then
    local n = tonumber(ARGV[i + 1])
    for f = i + 2, i + 2 * n, 2 do redis.call('HINCRBY', key, ARGV[f], ARGV[f + 1]) end
    i = i + 2 * n + 2
    if ARGV[i] ~= '' and redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ARGV[i]) end
    i = i + 1
  elseif kind == 'r' then
    redis.call('ZREM', key, ARGV[i + 1])
    i = i + 2
  elseif kind == 'd' then
    redis.call('DEL', key)
    i = i + 1
  else
    redis.call('RPUSH', key, ARGV[i + 1])
    redis.call('LTRIM', key, -tonumber(ARGV[i + 2]), -1)
    if ARGV[i + 3] ~= '' then redis.call('PEXPIRE', key, ARGV[i + 3]) end
    i = i + 4
  end
end
return 1
"""
INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == tonumber(ARGV[1]) and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""
EXTEND = """
local remaining = redis.call('PTTL', KEYS[1])
if remaining >= tonumber(ARGV[2]) then return {redis.call('GET', KEYS[1]), remaining} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], tonumber(ARGV[2])}
"""
# Hashes of counters as flat field/value lists, one per key.
COUNTERS = """
local rows = {}
for i, key in ipairs(KEYS) do rows[i] = redis.call('HGETALL', key) end
return rows
"""
# A chain of JSON values: ARGV holds the link field, the key prefix and the longest chain; keys.part's escaping.
FOLLOW = """
local chain, key = {}, KEYS[1]
for i = 1, tonumber(ARGV[3]) do
  local raw = redis.call('GET', key)
  if not raw then break end
  chain[i] = raw
  local link = cjson.decode(raw)[ARGV[1]]
  if type(link) ~= 'string' then break end
  key = ARGV[2] .. (string.gsub((string.gsub(link, '%%', '%%25')), ':', '%%3A'))
end
return chain
"""
NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"
ACQUIRE = (
    NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2])
   and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)
# Every lease of one renewal in one call: KEYS are lease sets, ARGV the TTL then one holder per key.
RENEW = (
    NOW_MS
    + """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local expiry = redis.call('ZSCORE', key, ARGV[i + 1])
  if expiry and tonumber(expiry) > now then
    redis.call('ZADD', key, now + ttl, ARGV[i + 1])
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  end
end
return 1
"""
)
CYCLE = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 and redis.call('HLEN', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
COUNT = (
    NOW_MS
    + """
local counts = {}
for i, key in ipairs(KEYS) do counts[i] = redis.call('ZCOUNT', key, '(' .. now, '+inf') end
return counts
"""
)
#: The one-letter code of each write kind in WRITE's ARGV.
KINDS = {"set": "s", "incr": "i", "hincr": "h", "release": "r", "delete": "d", "append": "a"}


def ms(seconds: float) -> int:
    """Milliseconds, at least 1 (Redis refuses a zero TTL)."""
    return max(int(seconds * 1000), 1)


def encode_writes(ops: Sequence[WriteOp]) -> tuple[list[str], list[Any]]:
    """``(KEYS, ARGV)`` of :data:`WRITE` for ``ops``."""
    keys: list[str] = []
    args: list[Any] = []
    for op in ops:
        keys.append(op[1])
        ttl = ms(op[3]) if op[3] is not None else ""
        args.append(KINDS[op[0]])
        if op[0] in ("set", "incr"):
            args += [op[2], ttl]
        elif op[0] == "hincr":
            args += [len(op[2]), *(x for pair in op[2].items() for x in pair), ttl]
        elif op[0] == "release":
            args.append(op[2])
        elif op[0] == "append":
            args += [op[2], op[4], ttl]
    return keys, args
