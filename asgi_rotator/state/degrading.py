"""A backend that keeps serving when its shared store fails, on process-local state until it recovers.

While Redis is unreachable, each replica falls back to its own memory: cooldowns, caps and affinity then
hold per replica instead of across the fleet, and stored responses written meanwhile live only there. That
trade (availability over fleet-wide limits) is what ``state.on_error: degrade`` asks for; ``fail`` answers
503 instead. The primary is tried again every ``retry_after`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..errors import BackendError
from .admission import Admission, Admitted
from .base import StateBackend, WriteOp
from .memory import MemoryBackend

T = TypeVar("T")
logger = logging.getLogger("asgi_rotator")


class DegradingBackend:
    """``primary`` while it works; ``fallback`` (a fresh memory backend by default) while it does not."""

    def __init__(
        self,
        primary: StateBackend,
        fallback: StateBackend | None = None,
        *,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback or MemoryBackend()
        self._retry_after = retry_after
        self._clock = clock
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        """True while the fallback is serving."""
        return self._clock() < self._down_until

    async def _run(self, operation: Callable[[StateBackend], Awaitable[T]]) -> T:
        if not self.degraded:
            try:
                return await operation(self.primary)
            except BackendError as exc:
                if self._down_until == 0.0:
                    logger.error("asgi_rotator: state backend failed (%s); serving on local state", exc)
                self._down_until = self._clock() + self._retry_after
        return await operation(self.fallback)

    async def get(self, key: str) -> bytes | None:
        return await self._run(lambda b: b.get(key))

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return await self._run(lambda b: b.get_many(keys))

    async def follow(self, key: str, link: str, prefix: str, limit: int) -> list[bytes]:
        return await self._run(lambda b: b.follow(key, link, prefix, limit))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._run(lambda b: b.set(key, value, ttl))

    async def write_many(self, ops: list[WriteOp]) -> None:
        await self._run(lambda b: b.write_many(ops))

    async def get_counters(self, keys: list[str]) -> list[dict[str, int]]:
        return await self._run(lambda b: b.get_counters(keys))

    async def delete(self, key: str) -> None:
        await self._run(lambda b: b.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return await self._run(lambda b: b.incr(key, amount, ttl))

    async def extend_deadline(self, key: str, until: float, payload: bytes) -> tuple[float, bytes]:
        return await self._run(lambda b: b.extend_deadline(key, until, payload))

    async def acquire_lease(
        self, key: str, holder: str, limit: int | None, ttl: float, *, then: Sequence[WriteOp] = ()
    ) -> bool:
        return await self._run(lambda b: b.acquire_lease(key, holder, limit, ttl, then=then))

    async def admit(self, admission: Admission) -> Admitted:
        return await self._run(lambda b: b.admit(admission))

    async def renew_leases(self, leases: Sequence[tuple[str, str]], ttl: float) -> None:
        await self._run(lambda b: b.renew_leases(leases, ttl))

    async def mark_cycle(self, key: str, member: str, size: int, ttl: float) -> bool:
        return await self._run(lambda b: b.mark_cycle(key, member, size, ttl))

    async def count_leases(self, keys: list[str]) -> list[int]:
        return await self._run(lambda b: b.count_leases(keys))

    async def append(self, key: str, value: bytes, max_len: int, ttl: float | None = None) -> None:
        await self._run(lambda b: b.append(key, value, max_len, ttl))

    async def list(self, key: str) -> list[bytes]:
        return await self._run(lambda b: b.list(key))

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()
