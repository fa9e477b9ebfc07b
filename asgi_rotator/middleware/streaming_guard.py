"""``StreamingGuard``: timeouts, heartbeats and disconnect handling for any streaming ASGI app or route.

Wrap a host's own SSE endpoint (or a whole app) and it:

- ends a stream whose first body byte takes longer than ``ttfb_timeout``, or that goes silent for longer
  than ``stall_timeout``, with ``error_event`` (an in-band error) once the response has started, or with
  a 504 before it has;
- sends ``heartbeat`` during silences of ``heartbeat_interval`` in a ``text/event-stream`` response;
- cancels the app as soon as the client disconnects, so the app's ``finally`` blocks close what it holds.

The gateway's own routes have all of this built in, in each client protocol's idiom.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..stream_stats import StreamStats
from ..types import ASGIApp, Message, Receive, Scope, Send

_SSE_ERROR = b'event: error\ndata: {"error": {"type": "timeout", "message": "The stream timed out."}}\n\n'


class StreamingGuard:
    """Guards streaming responses of ``app``. Non-HTTP scopes pass straight through.

    Args:
        app: the ASGI app or single route to guard.
        ttfb_timeout: seconds allowed before the first body byte (None disables).
        stall_timeout: seconds allowed between body chunks (None disables).
        heartbeat_interval: seconds of silence before ``heartbeat`` is sent on an SSE response (None disables).
        heartbeat: the bytes of one heartbeat; an SSE comment by default (use ``b"\\r\\n"`` for Gemini clients).
        error_event: the bytes that end a timed-out stream after its response started.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        ttfb_timeout: float | None = 60.0,
        stall_timeout: float | None = 60.0,
        heartbeat_interval: float | None = 15.0,
        heartbeat: bytes = b": keep-alive\n\n",
        error_event: bytes = _SSE_ERROR,
    ) -> None:
        self.app = app
        self.ttfb_timeout = ttfb_timeout
        self.stall_timeout = stall_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat = heartbeat
        self.error_event = error_event

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = StreamStats(time.monotonic())
        scope["asgi_rotator.stream_stats"] = metrics
        guard = _GuardedResponse(self, metrics, receive, send)
        await guard.run(scope)


class _GuardedResponse:
    """Per-request state of the guard (never on the middleware itself)."""

    def __init__(self, guard: StreamingGuard, metrics: StreamStats, receive: Receive, send: Send) -> None:
        self.guard = guard
        self.metrics = metrics
        self.receive = receive
        self.send = send
        self.started = False
        self.finished = False
        self.event_stream = False
        self.last_activity = time.monotonic()  # the app's, not the heartbeats'
        self.last_beat = 0.0
        self.activity = asyncio.Event()
        self.lock = asyncio.Lock()
        self.disconnected = asyncio.Event()
        self.body_seen = False
        # The guard reads the client's messages itself, so it hears a disconnect even while the app is busy
        # producing (most streaming apps never call receive again); the app reads them from this queue.
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()

    async def run(self, scope: Scope) -> None:
        app = asyncio.ensure_future(self.guard.app(scope, self.inbox.get, self.guarded_send))
        helpers = [asyncio.ensure_future(self.watch_time()), asyncio.ensure_future(self.listen())]
        try:
            done, _ = await asyncio.wait({app, *helpers}, return_when=asyncio.FIRST_COMPLETED)
            if not app.done() and self.finished and self.metrics.outcome == "completed":
                done, _ = await asyncio.wait({app})  # the response is complete: let the app wind down
        finally:
            for task in (app, *helpers):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.metrics.finished = time.monotonic()
        if app in done and app.exception() is not None and not self.disconnected.is_set():
            raise app.exception()  # type: ignore[misc]

    async def listen(self) -> None:
        while True:
            message = await self.receive()
            await self.inbox.put(message)
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                if not self.finished:
                    self.metrics.outcome = "disconnected"
                return

    async def guarded_send(self, message: Message) -> None:
        async with self.lock:
            if self.finished:
                return
            if message["type"] == "http.response.start":
                self.started = True
                headers = {k.lower(): v for k, v in message.get("headers", ())}
                self.event_stream = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body and self.metrics.first_byte is None:
                    self.metrics.first_byte = time.monotonic()
                self.body_seen = self.body_seen or bool(body)
                self.metrics.chunks += 1 if body else 0
                self.metrics.bytes += len(body)
                if not message.get("more_body", False):
                    self.finished = True
            self.last_activity = time.monotonic()
            self.activity.set()
            await self.send(message)

    async def watch_time(self) -> None:
        guard = self.guard
        while not self.finished and not self.disconnected.is_set():
            limit = guard.stall_timeout if self.body_seen else guard.ttfb_timeout
            beat = guard.heartbeat_interval if self.event_stream else None
            deadlines = []
            if limit is not None:
                deadlines.append(self.last_activity + limit)
            if beat is not None:
                deadlines.append(max(self.last_activity, self.last_beat) + beat)
            self.activity.clear()
            timeout = min(deadlines) - time.monotonic() if deadlines else None
            try:
                # Any app activity moves the deadlines: wake up and compute them again.
                await asyncio.wait_for(self.activity.wait(), max(timeout, 0.0) if timeout is not None else None)
                continue
            except TimeoutError:
                pass
            now = time.monotonic()
            if limit is not None and now - self.last_activity >= limit:
                await self.time_out("stall_timeout" if self.body_seen else "ttfb_timeout")
                return
            if beat is not None and now - max(self.last_activity, self.last_beat) >= beat:
                # A heartbeat keeps the client's connection alive; it is not the app making progress.
                self.last_beat = now
                async with self.lock:
                    if not self.finished:
                        await self.send({"type": "http.response.body", "body": guard.heartbeat, "more_body": True})

    async def time_out(self, outcome: str) -> None:
        self.metrics.outcome = outcome
        async with self.lock:
            if self.finished:
                return
            self.finished = True
            if not self.started:
                await self.send(
                    {"type": "http.response.start", "status": 504, "headers": [(b"content-type", b"application/json")]}
                )
                await self.send(
                    {
                        "type": "http.response.body",
                        "body": b'{"error": {"type": "timeout", "message": "The response timed out."}}',
                    }
                )
            else:
                await self.send({"type": "http.response.body", "body": self.guard.error_event, "more_body": False})
