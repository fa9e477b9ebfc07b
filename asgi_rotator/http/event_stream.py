"""Sending a stream of canonical events to the client as SSE, with heartbeats and disconnect handling.

The response starts lazily: if the very first event is an error (every credential failed before any output),
the client gets a proper HTTP error status instead of a 200 stream. Heartbeats start it early when the
upstream is slow. A client disconnect cancels the producer, whose ``finally`` blocks close the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ..errors import GatewayError
from ..protocols.base import StreamFormatter
from ..protocols.unified import StreamEvent
from ..sse import encode_frame
from ..types import Receive, Send
from .asgi import encode_headers

logger = logging.getLogger("asgi_rotator")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(slots=True)
class StreamOutcome:
    """How a client stream ended: ``completed``, ``failed``, ``disconnected`` or ``error_response``."""

    status: str = "completed"
    error: GatewayError | None = None
    chunks: int = 0
    bytes: int = 0


async def send_event_stream(
    send: Send,
    receive: Receive,
    events: AsyncIterator[StreamEvent],
    formatter: StreamFormatter,
    *,
    headers: Callable[[], list[tuple[str, str]]],
    on_error_response: Callable[[GatewayError], tuple[int, bytes, list[tuple[str, str]]]],
    heartbeat_interval: float | None,
    on_event: Callable[[StreamEvent], Awaitable[None]] | None = None,
    on_heartbeat: Callable[[], None] | None = None,
    outcome: StreamOutcome | None = None,
) -> StreamOutcome:
    """Pump ``events`` through ``formatter`` to the client until a terminal event or a disconnect.

    Args:
        headers: extra response headers, asked for when the response starts (the served target is known
            by then, unless a heartbeat had to start it first).
        on_error_response: renders an error that comes before the response started as (status, body, headers).
        heartbeat_interval: seconds of silence before a heartbeat; None disables them.
        on_event: sees every canonical event before it is sent (state capture that must precede the terminal).
        on_heartbeat: told of each heartbeat sent (for the trace).
        outcome: the outcome to fill in as the stream goes (``on_event`` may read its counts so far).
    """
    outcome = outcome or StreamOutcome()
    started = False
    last_sent = time.monotonic()
    lock = asyncio.Lock()

    async def start() -> None:
        nonlocal started
        started = True
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + encode_headers(headers())})

    async def write(data: bytes) -> None:
        nonlocal last_sent
        last_sent = time.monotonic()
        outcome.chunks += 1
        outcome.bytes += len(data)
        await send({"type": "http.response.body", "body": data, "more_body": True})

    async def pump() -> None:
        try:
            await relay()
        except Exception as exc:
            if not started or isinstance(exc, OSError):
                raise  # before the response: a clean error answer; OSError: the client went away
            # The status line is gone: the failure goes out as this protocol's in-band error terminal.
            logger.error("asgi_rotator: stream failed after its response started", exc_info=exc)
            error = exc if isinstance(exc, GatewayError) else GatewayError("internal", "The gateway failed mid-stream.")
            outcome.status, outcome.error = "failed", error
            async with lock:
                data = b"".join(encode_frame(frame) for frame in formatter.feed(StreamEvent("error", error=error)))
                if data:
                    await write(data)
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def relay() -> None:
        async for event in events:
            if on_event is not None:
                await on_event(event)
            async with lock:
                if not started and event.kind == "error":
                    outcome.status, outcome.error = "error_response", event.error
                    status, body, extra = on_error_response(event.error)
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status,
                            "headers": [(b"content-type", b"application/json"), *encode_headers(extra)],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
                if not started:
                    await start()
                data = b"".join(encode_frame(frame) for frame in formatter.feed(event))
                if data:
                    await write(data)
            if event.kind in ("end", "error"):
                if event.kind == "error":
                    outcome.status, outcome.error = "failed", event.error
                break
        async with lock:
            if not started:
                await start()
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch() -> None:
        """Wait for the client to leave, sending a heartbeat whenever the stream has been silent for
        ``heartbeat_interval`` (one task per stream does both)."""
        while True:
            silence = None if not heartbeat_interval else heartbeat_interval - (time.monotonic() - last_sent)
            if silence is not None and silence <= 0:
                async with lock:
                    if not started:
                        await start()
                    await write(formatter.heartbeat)
                if on_heartbeat is not None:
                    on_heartbeat()
                continue
            try:
                async with asyncio.timeout(silence):
                    message = await receive()
            except TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                return

    # The relay runs in this task; the watcher cancels it when the client leaves (one task per stream, not two).
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    relaying, left = True, False

    def on_watch_done(_: asyncio.Future[None]) -> None:
        nonlocal left
        if relaying:
            left = True
            task.cancel()

    watcher = asyncio.ensure_future(watch())
    watcher.add_done_callback(on_watch_done)
    try:
        await pump()
    except OSError:  # the server reports a vanished client on send (ASGI spec 2.4)
        outcome.status = "disconnected"
    except asyncio.CancelledError:
        if not left:
            raise  # the host's cancellation (shutdown, its own timeout), not the client leaving
        left = False
        if task.uncancel() > cancelling:
            raise  # the host cancelled too
        outcome.status = "disconnected"
    finally:
        relaying = False
        if left:  # the relay swallowed the cancellation meant for it: withdraw it, or the task stays cancelling
            task.uncancel()
            outcome.status = "disconnected"
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
    return outcome
