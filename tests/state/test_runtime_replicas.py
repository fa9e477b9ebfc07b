"""Runtime configuration across replicas: two apps on one Redis. A change made on one reaches the other within
the poll interval; secrets reach it only sealed with ``state.encryption_key``, and never reach Redis in clear."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream

from ..conftest import PROXY_KEY, SECRETS

pytestmark = pytest.mark.redis
REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ADMIN_KEY = "proxy-admin-key-replicas-0009"
RUNTIME_KEY = "sk-runtime-replicated-key-4242"
SECRETS.update({ADMIN_KEY, RUNTIME_KEY})
MESSAGES = [{"role": "user", "content": "hi"}]
POLL = 0.1


def replica(upstream: FakeUpstream, prefix: str, encryption_key: str | None, traces: Path | None = None) -> RotatorASGI:
    state: dict[str, Any] = {
        "backend": "redis",
        "url": REDIS_URL,
        "prefix": prefix,
        "fingerprint_key": "replicas-fingerprint-key",
        "runtime_poll_interval": POLL,
    }
    if encryption_key is not None:
        state["encryption_key"] = encryption_key
    config: dict[str, Any] = {
        "providers": {},
        "auth": {"api_keys": [PROXY_KEY], "admin_keys": [ADMIN_KEY]},
        "state": state,
    }
    if traces is not None:
        config["trace"] = {"enabled": True, "dir": str(traces)}
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


def sdk(app: RotatorASGI) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0)


async def add_provider(app: RotatorASGI) -> httpx.Response:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    provider = {"protocol": "openai_chat", "base_url": "http://upstream/v1"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=headers) as http:
        await http.put("/rotator/config/providers/rt", json=provider)
        return await http.post("/rotator/config/providers/rt/credentials", json={"key": RUNTIME_KEY})


async def raw_values(prefix: str) -> bytes:
    """Every value under ``prefix`` in Redis, whatever its type, concatenated."""
    redis = aioredis.Redis.from_url(REDIS_URL)
    found = bytearray()
    async for name in redis.scan_iter(match=prefix + "*", count=1000):
        kind = (await redis.type(name)).decode()
        if kind == "string":
            found += await redis.get(name) or b""
        elif kind == "hash":
            for field, value in (await redis.hgetall(name)).items():
                found += field + value
        elif kind == "list":
            found += b"".join(await redis.lrange(name, 0, -1))
        elif kind == "zset":
            found += b"".join(await redis.zrange(name, 0, -1))
        elif kind == "set":
            found += b"".join(await redis.smembers(name))
        found += name
    await redis.aclose()
    return bytes(found)


def assert_no_secret(values: bytes) -> None:
    raw = RUNTIME_KEY.encode()
    for form in (raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode()):
        assert form not in values


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"runtime-{uuid.uuid4().hex[:8]}:"
    yield name
    redis = aioredis.Redis.from_url(REDIS_URL)
    async for key in redis.scan_iter(match=name + "*", count=1000):
        await redis.delete(key)
    await redis.aclose()


async def test_a_provider_added_on_one_replica_serves_on_the_other_sealed(prefix, tmp_path):
    key = Fernet.generate_key().decode()
    upstream = FakeUpstream()
    a, b = replica(upstream, prefix, key), replica(upstream, prefix, key, traces=tmp_path)
    await b.startup()
    added = await add_provider(a)
    await asyncio.sleep(POLL * 5)
    client = sdk(b)
    # A prompt that quotes the key: B's trace redactor learned it with the change.
    leaky = [{"role": "user", "content": f"is {RUNTIME_KEY} my key?"}]
    completion = await client.chat.completions.create(model="rt/m", messages=leaky)
    view = await b.runtime.view()
    stored = await raw_values(prefix)

    await a.runtime.remove_provider("rt")
    await asyncio.sleep(POLL * 5)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="rt/m", messages=MESSAGES)
    await client.close()
    await a.aclose()
    await b.aclose()

    assert added.status_code == 201 and added.json()["secrets_shared"] is True
    assert completion.choices[0].message.content and upstream.keys_used() == [RUNTIME_KEY]
    assert view["applied_version"] == 2 and view["providers"]["rt"]["credentials"][0]["masked"] == "...4242"
    assert b"config:runtime" in stored
    assert_no_secret(stored)
    traces = [path.read_text() for path in tmp_path.rglob("*.jsonl")]
    assert traces and "my key?" in "".join(traces) and RUNTIME_KEY not in "".join(traces)


async def test_without_an_encryption_key_the_secret_stays_on_the_replica_that_received_it(prefix):
    upstream = FakeUpstream()
    a, b = replica(upstream, prefix, None), replica(upstream, prefix, None)
    await b.startup()
    added = await add_provider(a)
    await asyncio.sleep(POLL * 5)
    on_a = await sdk(a).chat.completions.create(model="rt/m", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as on_b:
        await sdk(b).chat.completions.create(model="rt/m", messages=MESSAGES)
    view = await b.runtime.view()
    stored = await raw_values(prefix)
    await a.aclose()
    await b.aclose()

    assert added.json()["secrets_shared"] is False and "only the replica" in added.json()["note"]
    assert on_a.choices[0].message.content and upstream.keys_used() == [RUNTIME_KEY]
    assert on_b.value.status_code == 503  # B has the provider, not its credential
    assert view["providers"]["rt"]["credentials"][0]["available"] is False
    assert_no_secret(stored)
