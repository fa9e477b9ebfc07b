"""The state backend contract: every piece of mutable state replicas share goes through it.

It is a :class:`typing.Protocol` so a user can plug in a backend without importing ours. Operations are
sized to what the gateway needs and each is atomic on its own: counters with a window, leases that expire
(a crashed replica's in-flight slots free themselves), extend-only deadlines (re-cooling never shortens a
cooldown), key-value with TTL, and bounded lists.

Times are Unix seconds from the backend's clock, so every replica agrees on when a cooldown ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .admission import Admission, Admitted
from .ops import WriteOp

__all__ = ["StateBackend", "WriteOp"]


@runtime_checkable
class StateBackend(Protocol):
    """Shared, atomic state operations. Keys are plain strings; the gateway namespaces them.

    The keys of one call share one Redis Cluster hash slot (the gateway's do: :mod:`.keys`), so a backend
    can run every call as one command on one node.
    """

    async def get(self, key: str) -> bytes | None:
        """The value at ``key``, or None when absent or expired."""

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Values for several keys in one round trip."""

    async def follow(self, key: str, link: str, prefix: str, limit: int) -> list[bytes]:
        """A chain of JSON objects in one round trip: the value at ``key``, then the value whose key is
        ``prefix`` + the escaped (:func:`~asgi_rotator.state.keys.part`) string in the previous value's
        ``link`` field, and so on, up to ``limit`` values; it stops at a missing key or a non-string link."""

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``; it expires after ``ttl`` seconds when given."""

    async def write_many(self, ops: list[WriteOp]) -> None:
        """Apply several independent writes in one round trip (each atomic, the batch not)."""

    async def get_counters(self, keys: list[str]) -> list[dict[str, int]]:
        """The hashes of counters written by ``hincr``, in one round trip (empty for missing keys)."""

    async def delete(self, key: str) -> None:
        """Remove ``key`` (and any lease set or list under it)."""

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl`` starts when the counter is created (a window)."""

    async def extend_deadline(self, key: str, until: float, payload: bytes) -> tuple[float, bytes]:
        """Set a deadline at ``until`` unless a later one is stored; returns the deadline and payload in force.

        The record expires at its deadline.
        """

    async def acquire_lease(self, key: str, holder: str, limit: int | None, ttl: float) -> bool:
        """Take a slot in the lease set at ``key`` unless ``limit`` live leases are held; leases expire."""

    async def admit(self, admission: Admission) -> Admitted:
        """Decide and count one admission atomically (see :mod:`.admission`): the target's cooldowns, the
        budget reservation, then the best ready contender, whose lease is taken and whose windows, counters
        and reservation are added to in the same step."""

    async def renew_leases(self, leases: Sequence[tuple[str, str]], ttl: float) -> None:
        """Push each held ``(key, holder)`` lease's expiry ``ttl`` seconds ahead, in one round trip (a long
        stream keeps its slot); a lease that already expired stays gone."""

    async def count_leases(self, keys: list[str]) -> list[int]:
        """Live leases in each set, in one round trip."""

    async def mark_cycle(self, key: str, member: str, size: int, ttl: float) -> bool:
        """Add ``member`` to the cycle at ``key`` (created with ``ttl``); when that makes ``size`` members, the
        cycle is over and is deleted. Returns True when it was. Read the members with :meth:`get_counters`."""

    async def append(self, key: str, value: bytes, max_len: int, ttl: float | None = None) -> None:
        """Append to the list at ``key``, keeping only the newest ``max_len`` entries; ``ttl`` (re)starts with
        every append, so the list lives as long as appends keep coming."""

    async def list(self, key: str) -> list[bytes]:
        """The list at ``key``, oldest first."""

    async def aclose(self) -> None:
        """Release connections."""
