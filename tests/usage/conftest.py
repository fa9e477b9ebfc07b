"""Usage fixtures: a fake clock at a fixed instant and a ledger on each backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from asgi_rotator.state import MemoryBackend, StateBackend
from asgi_rotator.state.keys import Keyspace
from asgi_rotator.usage import UsageLedger

from ..clock import FakeClock

REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

#: 2023-11-14 22:14:00 UTC: on a minute boundary, 840 s into its hour, 80040 s into its day.
T0 = 1_700_000_040.0


@pytest.fixture
def clock() -> FakeClock:
    fake = FakeClock()
    fake.now = T0
    return fake


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[StateBackend]:
    if request.param == "memory":
        yield MemoryBackend(clock=clock)
        return
    from asgi_rotator.state.redis import RedisBackend

    redis_backend = RedisBackend.from_url(REDIS_URL)
    yield redis_backend
    await redis_backend.aclose()


@pytest.fixture
def ledger(backend: StateBackend, clock: FakeClock) -> UsageLedger:
    # A fresh prefix per test keeps Redis runs independent of each other and of earlier runs.
    return UsageLedger(backend, Keyspace(f"test:{uuid.uuid4().hex}:"), scopes=["team-a", "a", "a:b"], clock=clock)
