"""Usage counters summed on the replica: one batch a second however many calls ended, nothing lost when a
write fails, everything written at shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from asgi_rotator.errors import BackendError
from asgi_rotator.state import MemoryBackend
from asgi_rotator.state.base import WriteOp
from asgi_rotator.usage.pending import PendingCounters


class Recording(MemoryBackend):
    """A memory backend that records each batch and can be told to fail the next writes."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[WriteOp]] = []
        self.failures = 0

    async def write_many(self, ops: list[WriteOp]) -> None:
        if self.failures:
            self.failures -= 1
            raise BackendError("redis is away")
        self.batches.append(list(ops))
        await super().write_many(ops)


def call(requests: int = 1, tokens: int = 10, ttl: float | None = None) -> list[WriteOp]:
    return [
        ("hincr", "usage:-:all", {"m:p/m:requests": requests, "m:p/m:input_tokens": tokens}, None),
        ("hincr", "usage:-:minute@60", {"m:p/m:requests": requests}, ttl or 7260.0),
    ]


async def test_many_calls_are_written_as_one_batch_of_their_sums():
    backend = Recording()
    pending = PendingCounters(backend, every=0.05)
    for _ in range(100):
        pending.add(call())
    assert backend.batches == []  # nothing on the calls' path
    await asyncio.sleep(0.15)
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 2
    assert await backend.get_counters(["usage:-:all", "usage:-:minute@60"]) == [
        {"m:p/m:requests": 100, "m:p/m:input_tokens": 1000},
        {"m:p/m:requests": 100},
    ]


async def test_a_failed_write_keeps_the_sums_and_tries_again(caplog):
    backend = Recording()
    backend.failures = 2
    pending = PendingCounters(backend, every=0.05)
    pending.add(call(tokens=7))
    with caplog.at_level(logging.WARNING, "asgi_rotator"):
        await asyncio.sleep(0.3)
    assert await backend.get_counters(["usage:-:all"]) == [{"m:p/m:requests": 1, "m:p/m:input_tokens": 7}]
    assert caplog.text.count("usage counters could not be written") == 1  # once per outage, not per try


async def test_calls_that_end_during_a_failing_write_are_summed_with_what_it_gives_back():
    backend = Recording()
    backend.failures = 1
    pending = PendingCounters(backend, every=60)
    pending.add(call(tokens=5))
    with pytest.raises(BackendError):
        await pending.flush()
    pending.add(call(tokens=6))
    await pending.aclose()
    assert await backend.get_counters(["usage:-:all"]) == [{"m:p/m:requests": 2, "m:p/m:input_tokens": 11}]


async def test_shutdown_writes_what_is_waiting_and_never_raises():
    backend = Recording()
    pending = PendingCounters(backend, every=60)
    pending.add(call())
    await pending.aclose()
    assert len(backend.batches) == 1
    backend.failures = 1
    pending.add(call())
    await pending.aclose()  # logged, not raised: shutdown goes on


def test_only_counter_increments_wait():
    with pytest.raises(ValueError, match="only counter increments"):
        PendingCounters(MemoryBackend()).add([("set", "k", b"v", None)])


async def test_a_flush_while_a_batch_is_in_flight_returns_once_it_landed():
    # A report flushes before it reads: it must not read while the writer's batch is still on its way.
    landed = asyncio.Event()

    class Slow(Recording):
        async def write_many(self, ops: list[WriteOp]) -> None:
            await asyncio.sleep(0.05)
            await super().write_many(ops)
            landed.set()

    pending = PendingCounters(Slow(), every=60)
    pending.add(call())
    writer = asyncio.ensure_future(pending.flush())
    await asyncio.sleep(0.01)
    await pending.flush()  # nothing left to write, but the batch in flight has to land first
    assert landed.is_set()
    await writer
    await pending.aclose()
