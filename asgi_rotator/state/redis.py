"""Redis state for several replicas (install the ``redis`` extra).

Every operation is one command, so one round trip: a read, or a Lua script for anything that reads and
writes or writes several keys (a whole :meth:`~RedisBackend.write_many` batch is one script call). A script
is atomic however many replicas race. Leases are sorted sets scored by their expiry on the Redis server's
clock: a replica that dies simply stops renewing, and its slots free themselves. Connection failures become
:class:`BackendError` quickly (short socket timeouts) rather than hanging requests.

On a Redis Cluster every key of one call must hash to one slot (a script may not reach another); the
gateway's keyspace puts all its keys under one hash tag (see :mod:`.keys`), and so all of them on one shard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from ..errors import BackendError, BackendTimeout, MissingDependency
from . import redis_admission, redis_scripts as lua
from .admission import Admission, Admitted
from .base import WriteOp

try:
    from redis.commands.core import AsyncScript
    from redis.exceptions import NoScriptError, RedisClusterException, RedisError, TimeoutError as RedisTimeoutError

    from .redis_connect import Client, client_from_url, close_client
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("redis", extra="redis") from exc

T = TypeVar("T")
logger = logging.getLogger("asgi_rotator")

#: The most lease releases kept owed; past it the oldest leases are left to expire (state.lease_ttl).
_OWED_MAX = 10_000


class RedisBackend:
    """State in Redis, shared by every replica that points at the same server or cluster.

    Args:
        client: a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster`` client.
        owns_client: close the client in :meth:`aclose`.
        clock: Unix time, for turning deadlines into TTLs.
        report_health: log when Redis fails and when it answers again, once each per outage (off when a
            :class:`~asgi_rotator.state.degrading.DegradingBackend` reports them instead).
    """

    def __init__(
        self,
        client: Client,
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
        #: Lease releases owed to Redis since an admission timed out (sent before the next call's command).
        self._owed: list[WriteOp] = []
        texts = (
            lua.WRITE,
            lua.INCR,
            lua.EXTEND,
            lua.COUNTERS,
            lua.FOLLOW,
            lua.ACQUIRE,
            lua.RENEW,
            lua.CYCLE,
            lua.COUNT,
        )
        self._scripts: list[AsyncScript] = [client.register_script(text) for text in (*texts, redis_admission.SCRIPT)]
        (self._write, self._incr, self._extend, self._counters, self._follow) = self._scripts[:5]
        (self._acquire, self._renew, self._cycle, self._count, self._admit) = self._scripts[5:]

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time, report_health: bool = True) -> RedisBackend:
        """A backend with its own client for ``url`` (see :mod:`.redis_connect` for the forms)."""
        return cls(client_from_url(url), owns_client=True, clock=clock, report_health=report_health)

    def __repr__(self) -> str:
        return "RedisBackend()"

    async def _call(self, operation: Awaitable[T]) -> T:
        try:
            result = await operation
        except NoScriptError:
            raise
        except (RedisTimeoutError, TimeoutError) as exc:
            self._failed(exc)
            raise BackendTimeout(f"the Redis state backend did not answer in time: {exc}") from exc
        except (RedisError, RedisClusterException, OSError) as exc:
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

    async def _run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        """``script`` in one round trip.

        It goes by bare EVALSHA. A script the server does not know (after a restart or SCRIPT FLUSH, or on a
        cluster node that never saw it) did not run, so every script is loaded at once (on every primary of a
        cluster) and this one runs again. Lease releases owed
        since an admission timed out go first, once a call got through since the stall (the timed-out script
        has run by then, not after).
        """
        if self._owed and self._down_since is None:
            owed, self._owed = self._owed, []
            try:
                await self._run(self._write, *lua.encode_writes(owed))
            except BackendError:
                self._owed = (owed + self._owed)[-_OWED_MAX:]
                raise
        try:
            return await self._call(self._client.evalsha(script.sha, len(keys), *keys, *args))
        except NoScriptError:
            for known in self._scripts:
                await self._call(self._client.script_load(known.script))
        try:
            return await self._call(self._client.evalsha(script.sha, len(keys), *keys, *args))
        except NoScriptError as exc:
            raise BackendError(f"the Redis state backend failed: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._call(self._client.get(key)))

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        return cast(list[bytes | None], await self._call(self._client.mget(keys)))

    async def follow(self, key: str, link: str, prefix: str, limit: int) -> list[bytes]:
        return cast(list[bytes], await self._run(self._follow, [key], [link, prefix, limit]))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._call(self._client.set(key, value, px=lua.ms(ttl) if ttl is not None else None))

    async def write_many(self, ops: list[WriteOp]) -> None:
        if ops:
            await self._run(self._write, *lua.encode_writes(ops))

    async def get_counters(self, keys: list[str]) -> list[dict[str, int]]:
        if not keys:
            return []
        rows = await self._run(self._counters, keys)
        return [{row[i].decode(): int(row[i + 1]) for i in range(0, len(row), 2)} for row in rows]

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return int(await self._run(self._incr, [key], [amount, lua.ms(ttl) if ttl is not None else ""]))

    async def extend_deadline(self, key: str, until: float, payload: bytes) -> tuple[float, bytes]:
        value, remaining = await self._run(self._extend, [key], [payload, lua.ms(until - self._clock())])
        return self._clock() + int(remaining) / 1000, value

    async def acquire_lease(self, key: str, holder: str, limit: int | None, ttl: float) -> bool:
        return bool(await self._run(self._acquire, [key], [holder, "" if limit is None else limit, lua.ms(ttl)]))

    async def admit(self, admission: Admission) -> Admitted:
        keys, args = redis_admission.encode(admission)
        try:
            reply = await self._run(self._admit, keys, args)
        except BackendTimeout:
            # A stalled Redis runs the script when it wakes up: the lease it takes then is given back with the
            # next call that gets through, instead of blocking a slot for lease_ttl.
            self._owed += [("release", c.lease_key, admission.holder, None) for c in admission.contenders]
            self._owed = self._owed[-_OWED_MAX:]
            raise
        return redis_admission.decode(reply)

    async def renew_leases(self, leases: Sequence[tuple[str, str]], ttl: float) -> None:
        if leases:
            await self._run(self._renew, [key for key, _ in leases], [lua.ms(ttl), *(holder for _, holder in leases)])

    async def mark_cycle(self, key: str, member: str, size: int, ttl: float) -> bool:
        return bool(await self._run(self._cycle, [key], [member, size, lua.ms(ttl)]))

    async def count_leases(self, keys: list[str]) -> list[int]:
        if not keys:
            return []
        return [int(n) for n in await self._run(self._count, keys)]

    async def append(self, key: str, value: bytes, max_len: int, ttl: float | None = None) -> None:
        await self.write_many([("append", key, value, ttl, max_len)])

    async def list(self, key: str) -> list[bytes]:
        return cast(list[bytes], await self._call(self._client.lrange(key, 0, -1)))

    async def aclose(self) -> None:
        if self._owns_client:
            await close_client(self._client)
