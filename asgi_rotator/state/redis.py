"""Redis state for several replicas (install the ``redis`` extra).

Every read-modify-write is one Lua script, so it is atomic however many replicas race. Leases are sorted
sets scored by their expiry on the Redis server's clock: a replica that dies simply stops renewing, and its
slots free themselves. Connection failures become :class:`BackendError` quickly (short socket timeouts)
rather than hanging requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from ..errors import BackendError, BackendTimeout, MissingDependency
from . import redis_admission
from .admission import Admission, Admitted
from .base import WriteOp

try:
    import redis.asyncio as aioredis
    from redis.exceptions import NoScriptError, RedisError, TimeoutError as RedisTimeoutError

    from .redis_connect import client_from_url, close_client
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("redis", extra="redis") from exc

T = TypeVar("T")
logger = logging.getLogger("asgi_rotator")

# Several counters in one call: per key, ARGV holds an amount and a TTL set when the counter is created.
_INCR = """
local values = {}
for k = 1, #KEYS do
  local amount, ttl = ARGV[2 * k - 1], ARGV[2 * k]
  local value = redis.call('INCRBY', KEYS[k], amount)
  if value == tonumber(amount) and ttl ~= '' then redis.call('PEXPIRE', KEYS[k], ttl) end
  values[k] = value
end
return values
"""
_EXTEND = """
local remaining = redis.call('PTTL', KEYS[1])
if remaining >= tonumber(ARGV[2]) then return {redis.call('GET', KEYS[1]), remaining} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], tonumber(ARGV[2])}
"""
# Every hash of one batch in one call: per key, ARGV holds a field count, field/amount pairs and a TTL.
_HINCR = """
local i = 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[i])
  for f = i + 1, i + 2 * n, 2 do redis.call('HINCRBY', KEYS[k], ARGV[f], ARGV[f + 1]) end
  i = i + 2 * n + 1
  local ttl = ARGV[i]
  i = i + 1
  if ttl ~= '' and redis.call('PTTL', KEYS[k]) == -1 then redis.call('PEXPIRE', KEYS[k], ttl) end
end
return 1
"""
# A chain of JSON values: ARGV holds the link field, the key prefix and the longest chain; keys.part's escaping.
_FOLLOW = """
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
_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"
_ACQUIRE = (
    _NOW_MS
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
_RENEW = (
    _NOW_MS
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
_CYCLE = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 and redis.call('HLEN', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
_COUNT = (
    _NOW_MS
    + """
local counts = {}
for i, key in ipairs(KEYS) do counts[i] = redis.call('ZCOUNT', key, '(' .. now, '+inf') end
return counts
"""
)


#: The most lease releases kept owed; past it the oldest leases are left to expire (state.lease_ttl).
_OWED_MAX = 10_000


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


class RedisBackend:
    """State in Redis, shared by every replica that points at the same server.

    Args:
        client: a ``redis.asyncio.Redis`` client.
        owns_client: close the client in :meth:`aclose`.
        clock: Unix time, for turning deadlines into TTLs.
        report_health: log when Redis fails and when it answers again, once each per outage (off when a
            :class:`~asgi_rotator.state.degrading.DegradingBackend` reports them instead).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        owns_client: bool = False,
        clock: Callable[[], float] = time.time,
        report_health: bool = True,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._clock = clock
        self._report_health = report_health
        #: When the current outage began (monotonic), or None while Redis answers: each is logged once.
        self._down_since: float | None = None
        #: Lease releases owed to Redis since an admission timed out (sent with the next pipeline).
        self._owed: list[tuple[Any, ...]] = []
        self._incr = client.register_script(_INCR)
        self._hincr = client.register_script(_HINCR)
        self._extend = client.register_script(_EXTEND)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._count = client.register_script(_COUNT)
        self._cycle = client.register_script(_CYCLE)
        self._admit = client.register_script(redis_admission.SCRIPT)
        self._follow = client.register_script(_FOLLOW)
        self._scripts = (
            self._incr,
            self._hincr,
            self._extend,
            self._acquire,
            self._renew,
            self._count,
            self._cycle,
            self._admit,
            self._follow,
        )

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time, report_health: bool = True) -> RedisBackend:
        """A backend with its own client for ``url`` (see :mod:`.redis_connect` for the forms)."""
        return cls(client_from_url(url), owns_client=True, clock=clock, report_health=report_health)

    def __repr__(self) -> str:
        return "RedisBackend()"

    async def _call(self, operation: Awaitable[T]) -> T:
        try:
            result = await operation
        except (RedisTimeoutError, TimeoutError) as exc:
            self._failed(exc)
            raise BackendTimeout(f"the Redis state backend did not answer in time: {exc}") from exc
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise BackendError(f"the Redis state backend failed: {type(exc).__name__}: {exc}") from exc
        if self._down_since is not None:
            if self._report_health:
                down = time.monotonic() - self._down_since
                logger.warning("asgi_rotator: the Redis state backend answers again after %.1fs", down)
            self._down_since = None
        return result

    def _failed(self, exc: Exception) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            if self._report_health:
                logger.error("asgi_rotator: the Redis state backend failed (%s: %s)", type(exc).__name__, exc)

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._call(self._client.get(key)))

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        return cast(list[bytes | None], await self._call(self._client.mget(keys)))

    async def follow(self, key: str, link: str, prefix: str, limit: int) -> list[bytes]:
        (chain,) = await self._pipelined([("EVALSHA", self._follow.sha, 1, key, link, prefix, limit)])
        return cast(list[bytes], chain)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._call(self._client.set(key, value, px=_ms(ttl) if ttl is not None else None))

    async def write_many(self, ops: list[WriteOp]) -> None:
        if ops:
            await self._pipelined(self._commands(ops))

    def _commands(self, ops: Sequence[WriteOp]) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = []
        hash_keys: list[str] = []
        hash_args: list[Any] = []
        counter_keys: list[str] = []
        counter_args: list[Any] = []
        for op in ops:
            ttl = _ms(op[3]) if op[3] is not None else ""
            if op[0] == "set":
                commands.append(("SET", op[1], op[2], "PX", ttl) if ttl != "" else ("SET", op[1], op[2]))
            elif op[0] == "release":
                commands.append(("ZREM", op[1], op[2]))
            elif op[0] == "delete":
                commands.append(("DEL", op[1]))
            elif op[0] == "hincr":
                hash_keys.append(op[1])
                hash_args += [len(op[2]), *(x for pair in op[2].items() for x in pair), ttl]
            else:
                counter_keys.append(op[1])
                counter_args += [op[2], ttl]
        if counter_keys:
            commands.append(("EVALSHA", self._incr.sha, len(counter_keys), *counter_keys, *counter_args))
        if hash_keys:
            commands.append(("EVALSHA", self._hincr.sha, len(hash_keys), *hash_keys, *hash_args))
        return commands

    async def _pipelined(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run ``commands`` in one round trip.

        Scripts go by bare EVALSHA: redis-py's script objects would ask SCRIPT EXISTS before every pipeline, a
        round trip each time. A script the server does not know (after a restart or SCRIPT FLUSH) did not run,
        so it is loaded and just those commands run again. Lease releases owed since an admission timed out
        ride along.
        """
        # Only once a call got through since the stall: the timed-out script has run by then, not after.
        owed, self._owed = (self._owed, []) if self._down_since is None else ([], self._owed)
        try:
            results = (await self._execute(owed + commands))[len(owed) :]
        except BackendError:
            self._owed = (owed + self._owed)[-_OWED_MAX:]
            raise
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:
            for script in self._scripts:
                await self._call(self._client.script_load(script.script))
            for i, result in zip(missing, await self._execute([commands[i] for i in missing]), strict=True):
                results[i] = result
        failed = next((result for result in results if isinstance(result, Exception)), None)
        if failed is not None:  # a command the server refused (the connection itself was fine)
            raise BackendError(f"the Redis state backend failed: {type(failed).__name__}: {failed}")
        return results

    async def _execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return cast(list[Any], await self._call(pipe.execute(raise_on_error=False)))

    async def get_counters(self, keys: list[str]) -> list[dict[str, int]]:
        if not keys:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            rows = await self._call(pipe.execute())
        return [{k.decode(): int(v) for k, v in row.items()} for row in rows]

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        args: list[Any] = [amount, _ms(ttl) if ttl is not None else ""]
        (value,) = await self._call(self._incr(keys=[key], args=args))
        return int(value)

    async def extend_deadline(self, key: str, until: float, payload: bytes) -> tuple[float, bytes]:
        ttl = _ms(until - self._clock())
        value, remaining = await self._call(self._extend(keys=[key], args=[payload, ttl]))
        return self._clock() + int(remaining) / 1000, value

    async def acquire_lease(
        self, key: str, holder: str, limit: int | None, ttl: float, *, then: Sequence[WriteOp] = ()
    ) -> bool:
        if limit is None:
            # Without a limit the lease is always taken, so its writes can ride in the same round trip.
            acquire = ("EVALSHA", self._acquire.sha, 1, key, holder, "", _ms(ttl))
            await self._pipelined([acquire, *self._commands(then)])
            return True
        args: list[Any] = [holder, limit, _ms(ttl)]
        taken = bool(await self._call(self._acquire(keys=[key], args=args)))
        if taken and then:
            await self.write_many(list(then))
        return taken

    async def admit(self, admission: Admission) -> Admitted:
        keys, args = redis_admission.encode(admission)
        try:
            (reply,) = await self._pipelined([("EVALSHA", self._admit.sha, len(keys), *keys, *args)])
        except BackendTimeout:
            # A stalled Redis runs the script when it wakes up: the lease it takes then is given back with the
            # next call that gets through, instead of blocking a slot for lease_ttl.
            self._owed += [("ZREM", c.lease_key, admission.holder) for c in admission.contenders]
            self._owed = self._owed[-_OWED_MAX:]
            raise
        return redis_admission.decode(reply)

    async def renew_leases(self, leases: Sequence[tuple[str, str]], ttl: float) -> None:
        if leases:
            keys = [key for key, _ in leases]
            await self._call(self._renew(keys=keys, args=[_ms(ttl), *(holder for _, holder in leases)]))

    async def mark_cycle(self, key: str, member: str, size: int, ttl: float) -> bool:
        return bool(await self._call(self._cycle(keys=[key], args=[member, size, _ms(ttl)])))

    async def count_leases(self, keys: list[str]) -> list[int]:
        if not keys:
            return []
        return [int(n) for n in await self._call(self._count(keys=keys, args=[]))]

    async def append(self, key: str, value: bytes, max_len: int, ttl: float | None = None) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, value)
            pipe.ltrim(key, -max_len, -1)
            if ttl is not None:
                pipe.pexpire(key, _ms(ttl))
            await self._call(pipe.execute())

    async def list(self, key: str) -> list[bytes]:
        return cast(list[bytes], await self._call(self._client.lrange(key, 0, -1)))

    async def aclose(self) -> None:
        if self._owns_client:
            await close_client(self._client)
