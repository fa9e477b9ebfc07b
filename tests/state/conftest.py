"""Backend fixtures: every contract test runs on memory, on the Redis at ROTATOR_TEST_REDIS_URL (db 15), on a
private 3-master Redis Cluster and on a private Valkey server."""

from __future__ import annotations

import os
import uuid

import pytest

from asgi_rotator.state import MemoryBackend

REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.redis),
        pytest.param("valkey", marks=pytest.mark.redis),
    ]
)
async def backend(request):
    if request.param == "memory":
        yield MemoryBackend()
        return
    from asgi_rotator.state.redis import RedisBackend

    url = {
        "redis": lambda: REDIS_URL,
        "cluster": lambda: request.getfixturevalue("redis_cluster").url,
        "valkey": lambda: request.getfixturevalue("valkey").url,
    }[request.param]()
    redis_backend = RedisBackend.from_url(url)
    await redis_backend.get("warm-up")  # a cluster client reads the slots and command table on its first call
    yield redis_backend
    await redis_backend.aclose()


@pytest.fixture
def key() -> str:
    """A fresh key under its own hash tag: the keys of one call share a Cluster slot, as the gateway's do."""
    return f"test:{{{uuid.uuid4().hex}}}"
