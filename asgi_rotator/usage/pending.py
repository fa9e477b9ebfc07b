"""Usage counters summed on this replica and written about once a second, off every request's path.

The finishing batch of a request must carry what a client that continues at once relies on (its lease back,
its stored response, its budget settled); the usage counters it used to carry too (some twenty field
increments over four hashes per request) only feed reports. Here they are added up per hash and field as
requests end, and one batch a second writes the sums: one round trip however many requests ended, and the
backend's work shrinks with the rate. A report flushes this replica's sums before it reads, so a replica
always sees its own requests; another replica's show within about a second. What a replica held when it died
is lost (at most a second of usage); a failed write keeps its sums for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from ..state.base import StateBackend, WriteOp
from .soon import WriteSoon

logger = logging.getLogger("asgi_rotator")

#: Seconds an increment may wait before it is written with the others.
_WRITE_EVERY = 1.0
#: Where one call's counts go: ``(hash key, field prefix, the hash's TTL)`` for each hash it adds to.
Targets = tuple[tuple[str, str, float | None], ...]


class PendingCounters:
    """Counter increments (``hincr`` write operations) held and summed until the next write.

    Args:
        backend: where the counters live.
        every: seconds between writes while increments are waiting.
    """

    def __init__(self, backend: StateBackend, *, every: float = _WRITE_EVERY) -> None:
        self._backend = backend
        #: Hash key -> (field -> summed increment, the hash's TTL as last given).
        self._sums: dict[str, tuple[dict[str, int], float | None]] = {}
        #: Counts added with :meth:`spread`, summed per set of targets; named per hash and field when written.
        self._spread: dict[Targets, dict[str, int]] = {}
        self._writer = WriteSoon(self.flush, lambda: bool(self._sums or self._spread), every)
        #: One write at a time: a report's flush waits for the writer's batch in flight, then reads.
        self._writing = asyncio.Lock()
        self._failing = False

    def add(self, ops: Iterable[WriteOp]) -> None:
        """Add ``hincr`` operations to the sums (written within about a second)."""
        sums = self._sums
        for op in ops:
            if op[0] != "hincr":
                raise ValueError(f"only counter increments wait to be written, not {op[0]!r}")
            _, key, fields, ttl = op
            held = sums.get(key)
            if held is None:
                sums[key] = (dict(fields), ttl)
                continue
            counters = held[0]
            for field, amount in fields.items():
                counters[field] = counters.get(field, 0) + amount
        if sums:
            self._writer.due()

    def spread(self, targets: Targets, counts: dict[str, int]) -> None:
        """Add ``counts`` to every hash of ``targets``, each field under that target's prefix.

        A call's counts go to several hashes under several names; summing them per set of targets and naming
        the fields once per write keeps that fan-out off the request's path.
        """
        held = self._spread.get(targets)
        if held is None:
            self._spread[targets] = dict(counts)
        else:
            for field, amount in counts.items():
                held[field] = held.get(field, 0) + amount
        self._writer.due()

    def _named(self) -> None:
        """Move the spread counts into the per-hash sums, their fields named."""
        spread, self._spread = self._spread, {}
        self.add(
            ("hincr", key, {prefix + field: amount for field, amount in counts.items()}, ttl)
            for targets, counts in spread.items()
            for key, prefix, ttl in targets
        )

    async def flush(self) -> None:
        """Write the sums now, in one batch.

        Raises:
            Exception: whatever the backend raised; the sums are kept for the next write.
        """
        async with self._writing:
            self._named()
            sums, self._sums = self._sums, {}
            if not sums:
                return
            ops: list[WriteOp] = [("hincr", key, fields, ttl) for key, (fields, ttl) in sums.items()]
            try:
                await self._backend.write_many(ops)
            except BaseException as exc:
                self.add(ops)  # kept, not lost: the next write carries them
                if isinstance(exc, Exception) and not self._failing:
                    self._failing = True
                    logger.warning("asgi_rotator: usage counters could not be written (kept for the next try): %s", exc)
                raise
            self._failing = False

    async def aclose(self) -> None:
        """Write what is waiting (at shutdown; a failure is logged, never raised) and stop the writer."""
        with contextlib.suppress(Exception):
            await self.flush()
        self._writer.cancel()
