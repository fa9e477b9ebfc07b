"""A backend that keeps serving when its shared store fails, on process-local state until it recovers.

While Redis is unreachable, each replica falls back to its own memory: cooldowns, caps and affinity then
hold per replica instead of across the fleet, and reads see only what this replica wrote meanwhile. That
trade (availability over fleet-wide limits) is what ``state.on_error: degrade`` asks for; ``fail`` answers
503 instead. The primary is tried again every ``retry_after`` seconds.

Nothing is left behind on either side:

- A lease goes back to the backend that granted it: one taken in Redis before the outage is released in
  Redis (queued until Redis answers, if need be); one taken locally is released locally.
- Every write made locally is journaled and replayed to Redis, in one batch, by the first operation that
  finds Redis back: stored responses, session evidence, usage, budget reservations and settlements,
  window counts, cooldowns and failure history. The journal keeps the newest ``journal_max`` entries; what
  it drops is counted and logged.
- A write that timed out (a stalled Redis may still run it when it wakes up) is replayed only where repeating
  it is harmless (values, deletes, lease releases); its counter increments are not, so they are counted at
  most once. The Redis backend itself gives back the lease a timed-out admission may still take.

Each outage is logged once when it begins and once when it ends, with what was replayed and what was lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..errors import BackendError, BackendTimeout
from .admission import Admission, Admitted, admitted_writes
from .base import StateBackend, WriteOp
from .memory import MemoryBackend

T = TypeVar("T")
Replay = Callable[[StateBackend], Awaitable[object]]
logger = logging.getLogger("asgi_rotator")
_REPEATABLE = frozenset({"set", "release", "delete"})


class DegradingBackend:
    """``primary`` while it works; ``fallback`` (a fresh memory backend by default) while it does not."""

    def __init__(
        self,
        primary: StateBackend,
        fallback: StateBackend | None = None,
        *,
        retry_after: float = 5.0,
        journal_max: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback or MemoryBackend()
        self._retry_after = retry_after
        self._journal_max = journal_max
        self._clock = clock
        self._down_until = 0.0
        self._down_since: float | None = None
        #: Writes made locally (or owed to the primary) during the outage, replayed when it answers again.
        self._writes: list[WriteOp] = []
        self._calls: list[Replay] = []
        self._dropped = 0
        #: Holders of leases the fallback granted: they are released there, never in the primary.
        self._local_holders: set[str] = set()

    @property
    def degraded(self) -> bool:
        """True while the fallback is serving."""
        return self._clock() < self._down_until

    async def _run(
        self,
        operation: Callable[[StateBackend], Awaitable[T]],
        writes: Sequence[WriteOp] = (),
        replay: Replay | None = None,
    ) -> T:
        """``operation`` on the primary, else on the fallback; ``writes`` and ``replay`` are what to redo on
        the primary once it answers, when the fallback served."""
        if not self.degraded:
            try:
                await self._recover()
                return await operation(self.primary)
            except BackendError as exc:
                self._outage(exc)
                # A timed-out write may still happen in Redis: redo only what is harmless to repeat.
                if isinstance(exc, BackendTimeout):
                    writes = [op for op in writes if op[0] in _REPEATABLE]
                    replay = None
        result = await operation(self.fallback)
        self._journal(writes, replay)
        return result

    def _outage(self, exc: BackendError) -> None:
        self._down_until = self._clock() + self._retry_after
        if self._down_since is None:
            self._down_since = self._clock()
            logger.error("asgi_rotator: state backend failed (%s); serving on local state until it returns", exc)

    def _journal(self, writes: Sequence[WriteOp], replay: Replay | None) -> None:
        self._writes.extend(writes)
        if replay is not None:
            self._calls.append(replay)
        excess = len(self._writes) + len(self._calls) - self._journal_max
        if excess > 0:
            cut = min(excess, len(self._writes))
            del self._writes[:cut]
            del self._calls[: excess - cut]
            self._dropped += excess

    async def _recover(self) -> None:
        """After an outage, replay the journal on the primary (one batch for the writes) before anything else
        runs there, then log the outage's end once.

        Raises:
            BackendError: the primary still fails (the journal is kept).
        """
        if self._down_since is None:
            return
        since, self._down_since = self._down_since, None
        writes, calls, dropped = self._writes, self._calls, self._dropped
        self._writes, self._calls, self._dropped = [], [], 0
        try:
            if writes:
                await self.primary.write_many(writes)
            for call in calls:
                await call(self.primary)
        except BackendError:
            self._writes, self._calls = writes + self._writes, calls + self._calls
            self._dropped += dropped
            self._down_since = since
            raise
        logger.warning(
            "asgi_rotator: state backend back after %.1fs; replayed %d local writes and %d other operations%s",
            self._clock() - (since or self._clock()),
            len(writes),
            len(calls),
            f"; {dropped} more were lost (journal full)" if dropped else "",
        )

    async def get(self, key: str) -> bytes | None:
        return await self._run(lambda b: b.get(key))

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return await self._run(lambda b: b.get_many(keys))

    async def follow(self, key: str, link: str, prefix: str, limit: int) -> list[bytes]:
        return await self._run(lambda b: b.follow(key, link, prefix, limit))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._run(lambda b: b.set(key, value, ttl), [("set", key, value, ttl)])

    async def write_many(self, ops: list[WriteOp]) -> None:
        local = {op[2] for op in ops if op[0] == "release" and op[2] in self._local_holders}
        if local:  # leases the fallback granted go back to it
            self._local_holders -= local
            await self.fallback.write_many([op for op in ops if op[0] == "release" and op[2] in local])
            ops = [op for op in ops if not (op[0] == "release" and op[2] in local)]
        if ops:
            await self._run(lambda b: b.write_many(ops), ops)

    async def get_counters(self, keys: list[str]) -> list[dict[str, int]]:
        return await self._run(lambda b: b.get_counters(keys))

    async def delete(self, key: str) -> None:
        await self._run(lambda b: b.delete(key), [("delete", key, None, None)])

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return await self._run(lambda b: b.incr(key, amount, ttl), [("incr", key, amount, ttl)])

    async def extend_deadline(self, key: str, until: float, payload: bytes) -> tuple[float, bytes]:
        return await self._run(
            lambda b: b.extend_deadline(key, until, payload),
            replay=lambda b: b.extend_deadline(key, until, payload),
        )

    async def acquire_lease(self, key: str, holder: str, limit: int | None, ttl: float) -> bool:
        on_primary = not self.degraded
        taken = await self._run(lambda b: b.acquire_lease(key, holder, limit, ttl))
        if taken and (not on_primary or self.degraded):
            self._local_holders.add(holder)
        return taken

    async def admit(self, admission: Admission) -> Admitted:
        if not self.degraded:
            try:
                await self._recover()
                return await self.primary.admit(admission)
            except BackendError as exc:  # a lease a timed-out admission may still take is the primary's to give back
                self._outage(exc)
        decision = await self.fallback.admit(admission)
        if decision.index is not None:
            self._local_holders.add(admission.holder)
            self._journal(admitted_writes(admission, decision.index, None), None)
        return decision

    async def renew_leases(self, leases: Sequence[tuple[str, str]], ttl: float) -> None:
        local = [lease for lease in leases if lease[1] in self._local_holders]
        if local:
            await self.fallback.renew_leases(local, ttl)
        shared = [lease for lease in leases if lease[1] not in self._local_holders]
        if shared and not self.degraded:
            await self._run(lambda b: b.renew_leases(shared, ttl))

    async def mark_cycle(self, key: str, member: str, size: int, ttl: float) -> bool:
        return await self._run(
            lambda b: b.mark_cycle(key, member, size, ttl), replay=lambda b: b.mark_cycle(key, member, size, ttl)
        )

    async def count_leases(self, keys: list[str]) -> list[int]:
        return await self._run(lambda b: b.count_leases(keys))

    async def append(self, key: str, value: bytes, max_len: int, ttl: float | None = None) -> None:
        await self._run(lambda b: b.append(key, value, max_len, ttl), [("append", key, value, ttl, max_len)])

    async def list(self, key: str) -> list[bytes]:
        return await self._run(lambda b: b.list(key))

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()
