"""StreamingGuard around plain ASGI apps: timeouts, heartbeats, disconnects, metrics."""

from __future__ import annotations

import asyncio

import httpx

from asgi_rotator import StreamingGuard

SSE = [(b"content-type", b"text/event-stream")]


def sse_app(*, first_delay: float = 0.0, gap: float = 0.0, chunks: int = 3, closed: list | None = None):
    async def app(scope, receive, send):
        try:
            await asyncio.sleep(first_delay)
            await send({"type": "http.response.start", "status": 200, "headers": SSE})
            for i in range(chunks):
                await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
                await asyncio.sleep(gap)
            await send({"type": "http.response.body", "body": b""})
        finally:
            if closed is not None:
                closed.append(True)

    return app


async def get(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/stream")


async def test_passes_a_healthy_stream_and_measures_it():
    seen = {}

    async def capture(scope, receive, send):
        await guarded(scope, receive, send)
        seen["metrics"] = scope["asgi_rotator.stream_stats"]

    guarded = StreamingGuard(sse_app(), heartbeat_interval=None)
    reply = await get(capture)
    assert reply.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    metrics = seen["metrics"]
    assert metrics.outcome == "completed" and metrics.chunks == 3 and metrics.bytes == len(reply.content)
    assert metrics.ttfb is not None and metrics.duration is not None


async def test_first_byte_timeout_before_start_is_a_504():
    reply = await get(StreamingGuard(sse_app(first_delay=5), ttfb_timeout=0.1, heartbeat_interval=None))
    assert reply.status_code == 504 and reply.json()["error"]["type"] == "timeout"


async def test_stall_after_start_ends_with_an_in_band_error():
    closed: list = []
    reply = await get(StreamingGuard(sse_app(gap=5, closed=closed), stall_timeout=0.1, heartbeat_interval=None))
    assert reply.status_code == 200
    assert reply.text.startswith("data: 0\n\n") and reply.text.endswith('"The stream timed out."}}\n\n')
    assert closed == [True]  # the app was cancelled and its finally ran


async def test_heartbeats_fill_silences():
    app = StreamingGuard(sse_app(gap=0.25, chunks=2), heartbeat_interval=0.1, stall_timeout=2)
    reply = await get(app)
    assert reply.text.count(": keep-alive\n\n") >= 2 and reply.text.count("data: ") == 2


async def test_client_disconnect_cancels_the_app_within_a_second():
    closed: list = []
    app = StreamingGuard(sse_app(gap=10, closed=closed))
    disconnect = asyncio.Event()
    sent: list = []

    async def receive():
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    task = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.sleep(0.1)
    disconnect.set()
    await asyncio.wait_for(task, 1)
    assert closed == [True] and scope["asgi_rotator.stream_stats"].outcome == "disconnected"


async def test_other_scopes_pass_through():
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["type"])

    await StreamingGuard(app)({"type": "lifespan"}, None, None)
    assert calls == ["lifespan"]
