"""ASGI app factories the benchmarks serve with uvicorn (``--app-dir bench --factory apps:NAME``).

- ``upstream``: :class:`FakeUpstream` as the providers would answer. It keeps only the last requests it saw
  (FakeUpstream records every request, which would make a 100k-request soak measure the fake, not the
  gateway), and answers model ``many-chunks`` with a long stream (24 tool calls: about 100 SSE chunks) so
  the bench can price one stream chunk.
- ``gateway``: a Starlette host app with ``RotatorASGI`` mounted at ``/llm``; the config file is named by
  ``BENCH_GATEWAY_CONFIG``. Starlette does not forward lifespan to the mount, so the gateway starts lazily,
  as it does in most hosts.
"""

from __future__ import annotations

import gc
import os
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
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
