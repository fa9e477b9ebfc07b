"""Every key the gateway writes has a TTL or a documented bound, after thousands of distinct requests."""

from __future__ import annotations

import asyncio
import collections
import os
import uuid

import httpx
import httpx2
import openai
import pytest
import redis.asyncio as aioredis

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream

from ..conftest import PROXY_KEY

pytestmark = pytest.mark.redis
REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_keys_expire_or_are_bounded_after_thousands_of_distinct_requests():
    prefix = f"bounds-{uuid.uuid4().hex[:8]}:"
    provider = {
        "protocol": "openai_chat",
        "base_url": "http://upstream/v1",
        "credentials": [{"key": "sk-bounds-1111", "rpm": 100000, "tpm": 10**9, "daily": 100000}, "sk-bounds-2222"],
    }
    config = {
        "providers": {"p": provider},
        "auth": {"api_keys": [{"key": PROXY_KEY, "budget": {"requests": 100000}}]},
        "state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix},
    }
    app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    client = openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0)

    async def one(i: int) -> None:
        session = {"x-session-id": f"session-{i}"}
        messages = [{"role": "user", "content": f"question {i}"}]
        await client.chat.completions.create(model=f"p/model-{i}", messages=messages, extra_headers=session)
        if i % 2:
            await client.responses.create(model=f"p/model-{i}", input=f"question {i}")

    for start in range(0, 1000, 50):
        await asyncio.gather(*(one(i) for i in range(start, start + 50)))
    await client.close()
    await app.shutdown()

    redis = aioredis.Redis.from_url(REDIS_URL)
    families: collections.Counter[str] = collections.Counter()
    unbounded = []
    async for name in redis.scan_iter(match=prefix + "*", count=1000):
        key = name.decode().removeprefix(prefix)
        families[key.split(":")[0]] += 1
        if await redis.pttl(name) < 0:
            unbounded.append(key)
    await redis.aclose()
    assert unbounded == ["usage:-:all"]  # one hash, a field set per served model (docs/scaling.md)
    # All time, and one bucket per minute, hour and day the run touched: never a key per model.
    assert 4 <= families["usage"] <= 7
    assert families["resp"] == 500 and families["aff"] == 1500  # each expires (responses.ttl, sticky_ttl)
