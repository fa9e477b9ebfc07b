"""The admission script: :func:`~asgi_rotator.state.admission.choose` and its counting, as one Lua script.

The admission goes as one JSON argument, its keys in a list (``k``) the rest names by position; the first key
also goes in ``KEYS``, by which a Redis Cluster routes the script (every key shares the prefix's hash tag, so
one slot). One argument rather than one per key: redis-py's asyncio client packs each argument in Python, at
a cost that grows with the command's size (about 40 µs for 35 keys, against 7 µs for one JSON document).
Lua mirrors the Python reference step for step: the memory backend runs that reference, and the backend
contract suite runs both.
"""

from __future__ import annotations

from typing import Any

from .. import _json
from .admission import Admission, Admitted, resets_in

SCRIPT = """
local s = cjson.decode(ARGV[1])
local K = s.k
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function num(v) return tonumber(v) or 0 end
local function pttl(k) local p = redis.call('PTTL', K[k]) if p > 0 then return p end return 0 end
local function room(used, limit, amount)
  if limit < 0 then return true end
  if amount > 0 then return used + amount <= limit end
  return used < limit
end
local function incr(k, amount, ttl)
  redis.call('INCRBY', K[k], amount)
  if redis.call('PTTL', K[k]) == -1 then redis.call('PEXPIRE', K[k], ttl) end
end
local rest_i, rest_ms = 0, 0
for i, k in ipairs(s.rest) do local p = pttl(k) if p > rest_ms then rest_i, rest_ms = i, p end end
if rest_ms > 0 then return {'resting', tostring(rest_ms), rest_i - 1} end
local r = s.res
if r then
  for _, l in ipairs(r.l) do
    if not room(num(redis.call('HGET', K[r.k], l[1])), l[2], l[3]) then
      return {'over_budget', tostring(r.reset), l[1]}
    end
  end
end
local sticky, cursor, session = false, false, false
for _, k in ipairs(s.anchors) do
  session = redis.call('GET', K[k])
  if session then break end
end
if session then
  -- keys.part's escaping; the key is the session's own, so it cannot be declared ahead (no Cluster)
  sticky = redis.call('GET', s.aff_prefix .. (string.gsub((string.gsub(session, '%%', '%%25')), ':', '%%3A')))
elseif s.aff > 0 then sticky = redis.call('GET', K[s.aff]) end
if s.cur > 0 then cursor = redis.call('GET', K[s.cur]) end
local preferred = sticky or cursor
local rows = {}
for i, c in ipairs(s.c) do
  local row = {i = i, flight = redis.call('ZCOUNT', K[c.lease], '(' .. now, '+inf'), cool = 0,
               used = num(redis.call('GET', K[c.used])), load = 0, capped = -1, fills = -1, done = false}
  for _, k in ipairs(c.cool) do local p = pttl(k) if p > row.cool then row.cool = p end end
  for _, w in ipairs(c.w) do
    local used = num(redis.call('GET', K[w[1]]))
    if w[2] > 0 then used = used + num(redis.call('GET', K[w[2]])) * w[3] end
    if w[8] == 1 then row.load = used end
    if w[5] > 0 and w[4] >= 0 and used + 2 * w[5] > w[4] and w[7] > row.fills then row.fills = w[7] end
    if not room(used, w[4], w[5]) and w[7] > row.capped then row.capped = w[7] end
  end
  if s.cyc > 0 then row.done = redis.call('HEXISTS', K[s.cyc], c.id) == 1 end
  row.full = c.max >= 0 and row.flight >= c.max
  rows[i] = row
end
local ready, fresh = {}, {}
for _, row in ipairs(rows) do
  if row.cool == 0 and row.capped < 0 and not row.full then
    ready[#ready + 1] = row
    if not row.done then fresh[#fresh + 1] = row end
  end
end
local pool = ready
if #fresh > 0 then pool = fresh end
local function key(row)
  local c = s.c[row.i]
  local stack = 0
  if s.opt >= 0 and row.flight >= s.opt then stack = 1 end
  if s.strat == 'sequential' then return {c.tier, row.i} end
  if s.strat == 'priority' then return {c.tier, stack, row.flight, row.load, row.used, c.tie, row.i} end
  return {stack, row.flight, row.load, row.used, c.tie, row.i}
end
local function less(a, b)
  local pa, pb = 1, 1
  if s.c[a.i].id == preferred then pa = 0 end
  if s.c[b.i].id == preferred then pb = 0 end
  if pa ~= pb then return pa < pb end
  local ka, kb = key(a), key(b)
  for j = 1, #ka do if ka[j] ~= kb[j] then return ka[j] < kb[j] end end
  return false
end
table.sort(pool, less)
if #pool > 0 and sticky and s.wait == 1 and s.c[pool[1].i].id ~= sticky then
  for i, c in ipairs(s.c) do
    local row = rows[i]
    if c.id == sticky and row.cool == 0 and row.capped < 0 and row.full then return {'wait'} end
  end
end
if #pool == 0 then
  local wait, busy = -1, 0
  for _, row in ipairs(rows) do
    if row.cool > 0 and (wait < 0 or row.cool < wait) then wait = row.cool end
    if row.capped >= 0 and (wait < 0 or row.capped < wait) then wait = row.capped end
    if row.full and row.cool == 0 then busy = 1 end
  end
  return {'unavailable', tostring(wait), busy}
end
local row = pool[1]
local c = s.c[row.i]
redis.call('ZADD', K[c.lease], now + s.lease, s.holder)
if redis.call('PTTL', K[c.lease]) < s.lease then redis.call('PEXPIRE', K[c.lease], s.lease) end
redis.call('SET', K[c.used], s.now, 'PX', s.used_ttl)
for _, w in ipairs(c.w) do if w[5] > 0 then incr(w[1], w[5], w[6]) end end
for _, n in ipairs(c.n) do incr(n[1], 1, n[2]) end
if s.cur > 0 and cursor ~= c.id then redis.call('SET', K[s.cur], c.id, 'PX', s.cur_ttl) end
if r then
  for _, l in ipairs(r.l) do if l[3] > 0 then redis.call('HINCRBY', K[r.k], l[1], l[3]) end end
  if redis.call('PTTL', K[r.k]) == -1 then redis.call('PEXPIRE', K[r.k], r.ttl) end
end
return {'admitted', row.i - 1, tostring(row.fills), session}
"""


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def encode(admission: Admission) -> tuple[list[str], list[bytes]]:
    """``(KEYS, ARGV)`` for :data:`SCRIPT`: the routing key, and the admission as JSON."""
    keys: list[str] = []
    index: dict[str, int] = {}

    def at(key: str | None) -> int:
        if key is None:
            return 0
        if key not in index:
            keys.append(key)
            index[key] = len(keys)
        return index[key]

    def limit(value: int | None) -> int:
        return -1 if value is None else value

    contenders: list[dict[str, Any]] = []
    for contender, tie in zip(admission.contenders, admission.tiebreak, strict=True):
        windows = [
            [
                at(w.key),
                at(w.previous),
                admission.carry,
                limit(w.limit),
                w.amount,
                _ms(w.ttl),
                _ms(resets_in(admission, w)),
                1 if w.ranks else 0,
            ]
            for w in contender.windows
        ]
        contenders.append(
            {
                "id": contender.id,
                "lease": at(contender.lease_key),
                "max": limit(contender.max_concurrency),
                "cool": [at(k) for k in contender.cooldown_keys],
                "used": at(contender.last_used_key),
                "tier": contender.tier,
                "tie": tie,
                "w": windows,
                "n": [[at(key), _ms(ttl)] for key, ttl in contender.counters],
            }
        )
    reservation = admission.reservation
    spec = {
        "now": repr(admission.now),
        "holder": admission.holder,
        "lease": _ms(admission.lease_ttl),
        "used_ttl": _ms(admission.last_used_ttl),
        "rest": [at(k) for k in admission.target_cooldowns],
        # JSON false, not null: cjson turns null into a value Lua counts as true.
        "res": {
            "k": at(reservation.key),
            "l": [list(item) for item in reservation.limits],
            "ttl": _ms(reservation.ttl),
            "reset": _ms(reservation.resets_in),
        }
        if reservation is not None
        else False,
        "aff": at(admission.affinity_key),
        "anchors": [at(k) for k in admission.anchor_keys],
        "aff_prefix": admission.affinity_prefix,
        "wait": 1 if admission.wait_for_sticky else 0,
        "cur": at(admission.cursor_key),
        "cur_ttl": _ms(admission.cursor_ttl) if admission.cursor_key else 0,
        "cyc": at(admission.cycle_key),
        "strat": admission.strategy,
        "opt": limit(admission.optimal_concurrency),
        "c": contenders,
    }
    spec["k"] = keys
    return keys[:1], [_json.dumps(spec)]


def decode(reply: list[Any]) -> Admitted:
    """The script's reply as an :class:`Admitted`."""
    outcome = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]

    def seconds(raw: Any) -> float | None:
        value = int(raw)
        return None if value < 0 else value / 1000

    if outcome == "admitted":
        session = reply[3].decode() if len(reply) > 3 and isinstance(reply[3], bytes) else None
        return Admitted("admitted", index=int(reply[1]), filled=seconds(reply[2]), session=session)
    if outcome == "resting":
        return Admitted("resting", retry_after=seconds(reply[1]), rest=int(reply[2]))
    if outcome == "over_budget":
        field = reply[2].decode() if isinstance(reply[2], bytes) else str(reply[2])
        return Admitted("over_budget", retry_after=seconds(reply[1]), exceeded=field)
    if outcome == "wait":
        return Admitted("wait", busy=True)
    return Admitted("unavailable", retry_after=seconds(reply[1]), busy=bool(int(reply[2])))
