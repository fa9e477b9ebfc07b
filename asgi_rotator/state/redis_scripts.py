"""The Lua scripts of the Redis backend, and the encoding of a write batch for :data:`WRITE`.

Each script names every key it touches in ``KEYS`` except where noted (:data:`WRITE` and the admission script
carry their keys in a JSON argument and name the first in ``KEYS`` to be routed by; :data:`FOLLOW` builds keys
under the caller's prefix), so on a Redis Cluster a hash tag in that prefix keeps all of them in one slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _json
from .ops import WriteOp

# A whole write batch as JSON in ARGV[1], one [kind, key, ...] per op; the values to set or append (bytes, not
# JSON) follow in ARGV, named by position. A TTL of 0 is none. KEYS holds the first key, to route by.
WRITE = """
for _, op in ipairs(cjson.decode(ARGV[1])) do
  local kind, key = op[1], op[2]
  if kind == 's' then
    if op[4] == 0 then redis.call('SET', key, ARGV[op[3]])
    else redis.call('SET', key, ARGV[op[3]], 'PX', op[4]) end
  elseif kind == 'i' then
    if redis.call('INCRBY', key, op[3]) == op[3] and op[4] > 0 then redis.call('PEXPIRE', key, op[4]) end
  elseif kind == 'h' then
    for field, amount in pairs(op[3]) do redis.call('HINCRBY', key, field, amount) end
    if op[4] > 0 and redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, op[4]) end
  elseif kind == 'r' then
    redis.call('ZREM', key, op[3])
  elseif kind == 'd' then
    redis.call('DEL', key)
  else
    redis.call('RPUSH', key, ARGV[op[3]])
    redis.call('LTRIM', key, -op[4], -1)
    if op[5] > 0 then redis.call('PEXPIRE', key, op[5]) end
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
#: The one-letter code of each write kind in WRITE's batch.
KINDS = {"set": "s", "incr": "i", "hincr": "h", "release": "r", "delete": "d", "append": "a"}


def ms(seconds: float) -> int:
    """Milliseconds, at least 1 (Redis refuses a zero TTL)."""
    return max(int(seconds * 1000), 1)


def encode_writes(ops: Sequence[WriteOp]) -> tuple[list[str], list[Any]]:
    """``(KEYS, ARGV)`` of :data:`WRITE` for ``ops``: the first key, the batch as JSON, then the values it sets
    or appends. One JSON document rather than an argument per field: redis-py's asyncio client packs each
    argument in Python, and a finished request's ledger alone is some fifty."""
    batch: list[list[Any]] = []
    values: list[Any] = []
    for op in ops:
        kind, key = KINDS[op[0]], op[1]
        ttl = ms(op[3]) if op[3] is not None else 0
        if op[0] == "set":
            values.append(op[2])
            batch.append([kind, key, len(values) + 1, ttl])
        elif op[0] == "append":
            values.append(op[2])
            batch.append([kind, key, len(values) + 1, op[4], ttl])
        elif op[0] in ("incr", "hincr"):
            batch.append([kind, key, op[2], ttl])
        elif op[0] == "release":
            batch.append([kind, key, op[2]])
        else:
            batch.append([kind, key])
    return [ops[0][1]], [_json.dumps(batch), *values]
