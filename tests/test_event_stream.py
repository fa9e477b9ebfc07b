"""``send_event_stream``: the relay runs in the request's own task; a client that leaves ends it as
``disconnected``, and a cancellation from the host (shutdown, a timeout around the app) stays a cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgi_rotator.http.event_stream import send_event_stream
from asgi_rotator.protocols.base import Frame, StreamFormatter
from asgi_rotator.protocols.unified import StreamEvent


class Plain(StreamFormatter):
    def feed(self, event: StreamEvent) -> list[Frame]:
        return [Frame(data=event.kind + ":" + event.text)]


class Client:
    """The ASGI side: records what was sent; ``leave()`` makes ``receive`` report a disconnect."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def slow_events(closed: list[bool], count: int = 100, pause: float = 0.01) -> AsyncIterator[StreamEvent]:
    async def gen() -> AsyncIterator[StreamEvent]:
        try:
            for i in range(count):
                yield StreamEvent("text", text=str(i))
                await asyncio.sleep(pause)
            yield StreamEvent("end")
        finally:
            closed.append(True)

    return gen()


async def relay(client: Client, events: AsyncIterator[StreamEvent], heartbeat: float | None = None):
    return await send_event_stream(
        client.send,
        client.receive,
        events,
        Plain(),
        headers=list,
        on_error_response=lambda error: (500, b"{}", []),
        heartbeat_interval=heartbeat,
    )


async def test_a_whole_stream_is_relayed_and_completed():
    client, closed = Client(), []
    outcome = await relay(client, slow_events(closed, count=3, pause=0))
    assert outcome.status == "completed" and outcome.chunks == 4
    assert client.body() == b"data: text:0\n\ndata: text:1\n\ndata: text:2\n\ndata: end:\n\n"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_client_that_leaves_ends_the_stream_as_disconnected_and_closes_the_events():
    client, closed = Client(), []
    asyncio.get_running_loop().call_later(0.05, client.gone.set)
    outcome = await relay(client, slow_events(closed))
    assert outcome.status == "disconnected" and closed == [True]
    assert 0 < outcome.chunks < 100
    # The task that ran the relay is not left cancelled: the host's own cleanup can still await.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)


async def test_a_cancellation_from_the_host_propagates():
    client, closed = Client(), []
    task = asyncio.ensure_future(relay(client, slow_events(closed)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]


async def test_a_host_timeout_that_meets_a_disconnect_is_still_the_hosts():
    client, closed = Client(), []
    loop = asyncio.get_running_loop()

    async def blocking() -> AsyncIterator[StreamEvent]:
        try:
            yield StreamEvent("text", text="a")
            time.sleep(0.1)  # hold the loop: the client leaving and the host's deadline come due together
            yield StreamEvent("text", text="b")
            await asyncio.sleep(5)
        finally:
            closed.append(True)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            loop.call_later(0.04, client.gone.set)
            await relay(client, blocking())
    assert closed == [True]


async def test_heartbeats_go_out_in_silences():
    client, closed = Client(), []
    await relay(client, slow_events(closed, count=2, pause=0.12), heartbeat=0.05)
    assert client.body().count(b": keep-alive") >= 2


async def test_a_host_cancellation_right_after_the_client_left_still_propagates():
    client, closed = Client(), []
    loop = asyncio.get_running_loop()
    relaying: list[asyncio.Task[Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.03)
        # Two turns on, the host cancels too: after the watcher's verdict, before the relay sees its own.
        loop.call_soon(loop.call_soon, relaying[0].cancel)
        return {"type": "http.disconnect"}

    client.receive = receive  # type: ignore[method-assign]
    relaying.append(asyncio.ensure_future(relay(client, slow_events(closed))))
    with pytest.raises(asyncio.CancelledError):
        await relaying[0]
    assert closed == [True]


async def test_a_relay_that_swallows_the_cancellation_still_ends_disconnected_and_uncancelled():
    client, closed = Client(), []

    async def stubborn() -> AsyncIterator[StreamEvent]:
        try:
            yield StreamEvent("text", text="a")
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:  # a layer below that turns cancellation into a last word
                yield StreamEvent("end")
        finally:
            closed.append(True)

    asyncio.get_running_loop().call_later(0.03, client.gone.set)
    outcome = await relay(client, stubborn())
    assert outcome.status == "disconnected" and closed == [True]
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
