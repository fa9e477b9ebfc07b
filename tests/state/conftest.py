"""Backend fixtures: every contract test runs on memory and on the Redis at ROTATOR_TEST_REDIS_URL (db 15)."""

from __future__ import annotations

import os
import uuid

import pytest

from asgi_rotator.state import MemoryBackend

REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request):
    if request.param == "memory":
        yield MemoryBackend()
        return
    from asgi_rotator.state.redis import RedisBackend

    redis_backend = RedisBackend.from_url(REDIS_URL)
    yield redis_backend
    await redis_backend.aclose()


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex}"
