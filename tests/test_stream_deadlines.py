"""The first-byte and stall limits on an upstream stream (``guarded_chunks`` over one lazy timer): each wait is
bounded, never the time the reader spends between chunks, and a cancellation from outside stays one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from asgi_rotator.errors import UpstreamError
from asgi_rotator.upstream.transport import guarded_chunks


class Paced(httpx.AsyncByteStream):
    """Chunks that come after the given pauses (seconds)."""

    def __init__(self, pauses: list[float]) -> None:
        self.pauses = pauses

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, pause in enumerate(self.pauses):
            await asyncio.sleep(pause)
            yield f"chunk {i};".encode()


def paced(*pauses: float) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Paced(list(pauses)))


async def read_all(response: httpx.Response, ttfb: float | None, stall: float | None) -> list[bytes]:
    return [chunk async for chunk in guarded_chunks(response, ttfb, stall)]


async def test_chunks_inside_the_gap_limit_flow_for_longer_than_it():
    chunks = await read_all(paced(*[0.02] * 15), ttfb=0.1, stall=0.1)  # 0.3 s in all, no gap over 0.1 s
    assert len(chunks) == 15


async def test_a_late_first_byte_is_a_ttfb_timeout():
    with pytest.raises(UpstreamError) as caught:
        await read_all(paced(0.3), ttfb=0.05, stall=5)
    assert caught.value.kind == "timeout"
    assert caught.value.details["stream_timeout"] == "ttfb"


async def test_a_gap_after_output_is_a_stall_timeout():
    with pytest.raises(UpstreamError) as caught:
        await read_all(paced(0.0, 0.01, 0.3), ttfb=0.05, stall=0.05)
    assert caught.value.details["stream_timeout"] == "stall"
    assert "within 0.05s" in caught.value.message


async def test_a_stall_limit_shorter_than_the_ttfb_limit_is_kept():
    # The timer set for the long first-byte wait must not carry the short stall limit past its end.
    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamError) as caught:
        await read_all(paced(0.0, 5.0), ttfb=10.0, stall=0.05)
    assert caught.value.details["stream_timeout"] == "stall"
    assert asyncio.get_running_loop().time() - started < 2.0


async def test_time_the_reader_spends_between_chunks_does_not_count():
    got = []
    async for chunk in guarded_chunks(paced(0.0, 0.0, 0.0), 0.05, 0.05):
        got.append(chunk)
        await asyncio.sleep(0.15)  # the reader is slow, the upstream is not
    assert len(got) == 3


async def test_no_limit_waits_as_long_as_it_takes():
    assert len(await read_all(paced(0.0, 0.12), ttfb=None, stall=None)) == 2


async def test_an_outer_cancellation_is_not_taken_for_a_timeout():
    task = asyncio.ensure_future(read_all(paced(0.0, 5.0), ttfb=0.05, stall=0.05))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outer_timeout_around_the_reader_still_fires_as_its_own():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await read_all(paced(0.0, 5.0), ttfb=1.0, stall=1.0)


async def test_the_timer_goes_with_the_stream():
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    await read_all(paced(0.0, 0.0), ttfb=30.0, stall=30.0)
    assert len([h for h in loop._scheduled if not h.cancelled()]) <= before  # type: ignore[attr-defined]


async def test_an_outer_cancellation_that_meets_the_expiry_still_propagates():
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(read_all(paced(5.0), ttfb=0.05, stall=0.05))
    await asyncio.sleep(0.01)
    loop.call_at(loop.time() + 0.06, task.cancel)  # due just after the deadline's timer
    time.sleep(0.1)  # hold the loop past both: they run in the same turn, the expiry first
    with pytest.raises(asyncio.CancelledError):
        await task


class Converting(httpx.AsyncByteStream):
    """A transport that turns the cancellation of its read into a read error."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise httpx.ReadError("read cancelled") from None
        yield b"never"


async def test_a_deadline_the_transport_turned_into_its_own_error_leaves_the_task_uncancelled():
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Converting())
    with pytest.raises(UpstreamError) as caught:
        await read_all(response, ttfb=0.05, stall=5)
    assert caught.value.kind == "api_connection"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # and no cancellation is still pending for the next wait
