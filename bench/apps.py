"""ASGI app factories the benchmarks serve with uvicorn (``--app-dir bench --factory apps:NAME``).

- ``upstream``: :class:`FakeUpstream` as the providers would answer. It keeps only the last requests it saw
  (FakeUpstream records every request, which would make a 100k-request soak measure the fake, not the
  gateway), and answers model ``many-chunks`` with a long stream (24 tool calls: about 100 SSE chunks) so
  the bench can price one stream chunk.
- ``gateway``: a Starlette host app with ``RotatorASGI`` mounted at ``/llm``; the config file is named by
  ``BENCH_GATEWAY_CONFIG``. Starlette does not forward lifespan to the mount, so the gateway starts lazily,
  as it does in most hosts.
- ``floor``: the same host forwarding each POST to ``BENCH_FLOOR_UPSTREAM`` with aiohttp (the gateway's client)
  and relaying the answer, a stream chunk by chunk: what any gateway in this process model pays before doing
  anything of its own (the HTTP server, the host app, one pooled upstream call).
"""

from __future__ import annotations

import gc
import os
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream, Reply

MANY_CHUNKS_MODEL = "many-chunks"
MANY_CHUNKS_TOOL_CALLS = 24


def upstream() -> FakeUpstream:
    fake = FakeUpstream()
    fake.requests = deque(maxlen=64)  # type: ignore[assignment]
    calls = [("lookup", {"query": f"item {i}"}) for i in range(MANY_CHUNKS_TOOL_CALLS)]
    fake.on_model(MANY_CHUNKS_MODEL, Reply(text="", tool_calls=calls))
    return fake


async def _root(request: Any) -> PlainTextResponse:
    return PlainTextResponse("host app")


def gateway() -> Starlette:
    host = Starlette(
        routes=[Route("/", _root), Mount("/llm", app=RotatorASGI(os.environ["BENCH_GATEWAY_CONFIG"]))],
    )
    gc.freeze()  # what `asgi-rotator serve` does, and docs/performance.md advises hosts to do once set up
    return host


def floor() -> Starlette:
    upstream = os.environ["BENCH_FLOOR_UPSTREAM"]
    sessions: list[aiohttp.ClientSession] = []

    async def forward(request: Request) -> Response:
        if not sessions:  # on the server's loop, at the first request
            connector = aiohttp.TCPConnector(limit=0)
            sessions.append(aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()))
        body = await request.body()
        headers = {"content-type": "application/json", "authorization": "Bearer sk-floor"}
        answer = await sessions[0].post(upstream + "/v1/chat/completions", data=body, headers=headers)
        kind = answer.headers.get("content-type", "application/json")
        if not kind.startswith("text/event-stream"):
            return Response(await answer.read(), status_code=answer.status, media_type=kind)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.content.iter_any():
                    yield chunk
            finally:
                answer.release()

        return StreamingResponse(relay(), status_code=answer.status, media_type=kind)

    host = Starlette(routes=[Route("/llm/v1/chat/completions", forward, methods=["POST"])])
    gc.freeze()
    return host
