"""The default backend: one process, plain dictionaries.

Every operation runs without awaiting anything, so under asyncio each one is atomic without a lock.
Entries with a TTL expire on a schedule (:class:`~.expiries.Expiries`) that each write advances. Beyond
``max_keys`` entries the least recently used go first, as under Redis's ``allkeys-lru``: a stale conversation
goes before a rate window or cooldown that every admission reads. Memory stays bounded however many distinct
conversations pass through.

Every value is kept as a right-sized copy: orjson (3.12 and later) hands back bytes whose allocation is
rounded up to a power of two of at least 4 KiB, so a 1 KiB stored response held as it came would take 8 to
16 KiB for as long as it lives here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .. import _json
from .admission import Admission, Admitted, Row, admitted_writes, choose, evaluate, over_budget
from .base import WriteOp
from .expiries import Expiries
from .keys import part


class MemoryBackend:
    """State for a single process. Not shared between workers: use Redis for that.

    Args:
        clock: the time source (tests pass a fake one).
        max_keys: values, hashes and lists kept at most; past it, the least recently used are dropped early.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        # Counters live beside plain values, as decimal text, so ``get`` reads them as Redis would. Each
        # table's order is its recency: a read or write moves the key to the end.
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._hashes: dict[str, tuple[dict[str, int], float | None]] = {}
        self._lists: dict[str, tuple[deque[bytes], float | None]] = {}
        self._tables: tuple[dict[str, Any], ...] = (self._values, self._hashes, self._lists)
        self._expiries = Expiries(self._tables)

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _live(self, expires: float | None) -> bool:
        return expires is None or expires > self._clock()

    def _wrote(self, table: int, key: str, expires: float | None, previous: float | None = None) -> None:
        """Track a written entry's expiry (``previous`` is its expiry before this write, whose row still stands),
        drop what has expired, and the least recently used past ``max_keys``."""
        if expires is not None and (previous is None or previous > expires):
            self._expiries.track(expires, key, table)
        self._expiries.expire(self._clock())
        tables = self._tables
        while len(self._values) + len(self._hashes) + len(self._lists) > self._max_keys:
            largest = max(tables, key=len)
            if largest.pop(next(iter(largest)))[1] is not None:
                self._expiries.gone()

    @staticmethod
    def _kept(value: bytes) -> bytes:
        """A copy of ``value`` without the producer's spare capacity (see the module docstring)."""
        return b"".join((value, b""))

    @staticmethod
    def _used(table: dict[str, Any], key: str) -> None:
        """Mark ``key`` as just used: it moves to the end of its table's order."""
        table[key] = table.pop(key)

    async def get(self, key: str) -> bytes | None:
        return self._read(key, self._clock())

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def follow(self, key: str, link: str, prefix: str, limit: int) -> list[bytes]:
        chain: list[bytes] = []
        current: str | None = key
        while current is not None and len(chain) < limit:
            raw = await self.get(current)
            if raw is None:
                break
            chain.append(raw)
            following = _json.loads(raw).get(link)
            current = prefix + part(following) if isinstance(following, str) else None
        return chain

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires = self._expiry(ttl)
        old = self._values.pop(key, None)
        self._values[key] = (self._kept(value), expires)
        self._wrote(0, key, expires, old[1] if old is not None else None)

    async def write_many(self, ops: list[WriteOp]) -> None:
        for op in ops:
            if op[0] == "set":
                await self.set(op[1], op[2], op[3])
            elif op[0] == "incr":
                await self.incr(op[1], op[2], op[3])
            elif op[0] == "release":
                self._leases.get(op[1], {}).pop(op[2], None)
            elif op[0] == "delete":
                await self.delete(op[1])
            elif op[0] == "append":
                await self.append(op[1], op[2], op[4], op[3])
            else:
                self._hincr(op[1], op[2], op[3])

    def _hincr(self, key: str, fields: dict[str, int], ttl: float | None) -> None:
        entry = self._hashes.get(key)
        if entry is None or not self._live(entry[1]):
            entry = ({}, self._expiry(ttl))
            self._hashes[key] = entry
            self._wrote(1, key, entry[1])
        else:
            self._used(self._hashes, key)
        counters = entry[0]
        for name, amount in fields.items():
            counters[name] = counters.get(name, 0) + amount

    async def get_counters(self, keys: list[str]) -> list[dict[str, int]]:
        out = []
        for key in keys:
            entry = self._hashes.get(key)
            if entry is not None and self._live(entry[1]):
                self._used(self._hashes, key)
                out.append(dict(entry[0]))
            else:
                out.append({})
        return out

    async def delete(self, key: str) -> None:
        self._leases.pop(key, None)
        for table in self._tables:
            entry = table.pop(key, None)
            if entry is not None and entry[1] is not None:
                self._expiries.gone()

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        entry = self._values.get(key)
        if entry is None or not self._live(entry[1]):
            value, expires = amount, self._expiry(ttl)
            self._values[key] = (str(value).encode(), expires)
            self._wrote(0, key, expires)
        else:
            value = int(entry[0]) + amount
            del self._values[key]
            self._values[key] = (str(value).encode(), entry[1])
        return value

    async def extend_deadline(self, key: str, until: float, payload: bytes) -> tuple[float, bytes]:
        entry = self._values.get(key)
        if entry is not None and self._live(entry[1]) and entry[1] is not None and entry[1] >= until:
            self._used(self._values, key)
            return entry[1], entry[0]
        old = self._values.pop(key, None)
        self._values[key] = (self._kept(payload), until)
        self._wrote(0, key, until, old[1] if old is not None else None)
        return until, payload

    async def acquire_lease(self, key: str, holder: str, limit: int | None, ttl: float) -> bool:
        now = self._clock()
        holders = self._leases.setdefault(key, {})
        for stale in [h for h, exp in holders.items() if exp <= now]:
            del holders[stale]
        if limit is not None and len(holders) >= limit and holder not in holders:
            return False
        holders[holder] = now + ttl
        return True

    async def admit(self, admission: Admission) -> Admitted:
        now = self._clock()
        rests = [self._remaining(key, now) for key in admission.target_cooldowns]
        if any(r > 0 for r in rests):
            longest = max(range(len(rests)), key=lambda i: rests[i])
            return Admitted("resting", retry_after=rests[longest], rest=longest)
        reservation = admission.reservation
        if reservation is not None:
            (used,) = await self.get_counters([reservation.key])
            exceeded = over_budget(reservation, used)
            if exceeded is not None:
                return Admitted("over_budget", retry_after=reservation.resets_in, exceeded=exceeded)
        cycle = (await self.get_counters([admission.cycle_key]))[0] if admission.cycle_key else {}
        rows = []
        for contender in admission.contenders:
            holders = self._leases.get(contender.lease_key)
            row = Row(
                in_flight=sum(1 for exp in holders.values() if exp > now) if holders else 0,
                cooling=max([self._remaining(key, now) for key in contender.cooldown_keys], default=0.0),
                last_used=float(self._read(contender.last_used_key, now) or 0.0),
                exhausted=contender.id in cycle,
                counts=[(self._count(w.key, now), self._count(w.previous, now)) for w in contender.windows],
            )
            evaluate(admission, contender, row)
            rows.append(row)
        found = next(filter(None, [self._read(key, now) for key in admission.anchor_keys]), None)
        session = found.decode() if found is not None else None
        affinity = admission.affinity_prefix + part(session) if session is not None else admission.affinity_key
        sticky = self._read(affinity, now) if affinity else None
        cursor = self._read(admission.cursor_key, now) if admission.cursor_key else None
        preferred = (sticky or cursor or b"").decode() or None
        decision = choose(admission, rows, preferred, sticky is not None)
        decision.session = session
        if decision.index is not None:
            contender = admission.contenders[decision.index]
            await self.acquire_lease(contender.lease_key, admission.holder, None, admission.lease_ttl)
            await self.write_many(admitted_writes(admission, decision.index, cursor.decode() if cursor else None))
        return decision

    def _read(self, key: str, now: float) -> bytes | None:
        """``get`` for reads inside one operation, at its ``now``."""
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= now:
            del self._values[key]
            return None
        self._used(self._values, key)
        return entry[0]

    def _remaining(self, key: str, now: float) -> float:
        entry = self._values.get(key)
        if entry is None or entry[1] is None:
            return 0.0
        self._used(self._values, key)
        return max(entry[1] - now, 0.0)

    def _count(self, key: str | None, now: float) -> float:
        if key is None:
            return 0.0
        value = self._read(key, now)
        return 0.0 if value is None else float(value)

    async def renew_leases(self, leases: Sequence[tuple[str, str]], ttl: float) -> None:
        now = self._clock()
        for key, holder in leases:
            holders = self._leases.get(key)
            if holders is not None and holders.get(holder, 0.0) > now:
                holders[holder] = now + ttl

    async def mark_cycle(self, key: str, member: str, size: int, ttl: float) -> bool:
        self._hincr(key, {member: 1}, ttl)
        if len(self._hashes[key][0]) < size:
            return False
        if self._hashes.pop(key)[1] is not None:
            self._expiries.gone()
        return True

    async def count_leases(self, keys: list[str]) -> list[int]:
        now = self._clock()
        return [sum(1 for exp in self._leases.get(key, {}).values() if exp > now) for key in keys]

    async def append(self, key: str, value: bytes, max_len: int, ttl: float | None = None) -> None:
        entry = self._lists.get(key)
        items = entry[0] if entry is not None and self._live(entry[1]) else deque(maxlen=max_len)
        items.append(self._kept(value))
        expires = self._expiry(ttl) if ttl is not None else entry[1] if entry else None
        self._lists.pop(key, None)
        self._lists[key] = (items, expires)
        if entry is None or expires != entry[1]:
            self._wrote(2, key, expires, entry[1] if entry is not None else None)

    async def list(self, key: str) -> list[bytes]:
        entry = self._lists.get(key)
        if entry is None or not self._live(entry[1]):
            return []
        self._used(self._lists, key)
        return list(entry[0])

    async def aclose(self) -> None:
        return None
