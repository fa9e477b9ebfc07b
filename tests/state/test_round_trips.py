"""Redis on the request path: one round trip to admit a request, one to finish it (DESIGN.md section 6).

A round trip is one write to the Redis socket (a pipeline or a script is one); the connections of the
gateway's own pool count them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
import redis.asyncio as aioredis

from asgi_rotator import RotatorASGI
from asgi_rotator.state.redis import RedisBackend
from asgi_rotator.testing import FakeUpstream

from ..conftest import PROXY_KEY

pytestmark = pytest.mark.redis
REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MESSAGES = [{"role": "user", "content": "hi"}]


class CountingConnection(aioredis.Connection):
    """A connection that counts what it sends: one packed write is one round trip."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def gateway() -> AsyncIterator[RotatorASGI]:
    pool = aioredis.BlockingConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    backend = RedisBackend(aioredis.Redis(connection_pool=pool), owns_client=True)
    provider = {
        "protocol": "openai_chat",
        "base_url": "http://upstream/v1",
        "credentials": [{"key": "sk-trips-1111", "rpm": 1000, "daily": 10000}, "sk-trips-2222"],
    }
    config = {
        "providers": {"up": provider},
        "auth": {"api_keys": [{"key": PROXY_KEY, "budget": {"requests": 1000}}]},
        "state": {"prefix": f"trips-{uuid.uuid4().hex[:8]}:"},
    }
    app = RotatorASGI(config, backend=backend, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))
    yield app
    await app.shutdown()


def sdk(app: RotatorASGI) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=client, max_retries=0)


async def trips(call: Any) -> int:
    before = CountingConnection.sent
    await call
    return CountingConnection.sent - before


async def test_a_request_costs_two_round_trips_streamed_or_not(gateway):
    async with sdk(gateway) as client:
        await client.chat.completions.create(model="up/m", messages=MESSAGES)  # connects, loads the scripts
        assert await trips(client.chat.completions.create(model="up/m", messages=MESSAGES)) == 2

        async def streamed() -> None:
            stream = await client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True)
            async for _ in stream:
                pass

        assert await trips(streamed()) == 2


async def test_a_responses_lineage_of_any_depth_costs_one_more(gateway):
    async with sdk(gateway) as client:
        previous = await client.responses.create(model="up/m", input="turn 0")
        depths = []
        for turn in range(1, 8):
            call = client.responses.create(model="up/m", input=f"turn {turn}", previous_response_id=previous.id)
            before = CountingConnection.sent
            previous = await call
            depths.append(CountingConnection.sent - before)
        assert depths == [3] * 7  # lineage, admit, finish


async def test_a_conversation_continued_without_a_session_id_costs_two(gateway):
    async with sdk(gateway) as client:
        first = await client.chat.completions.create(model="up/m", messages=MESSAGES)
        answer = {"role": "assistant", "content": first.choices[0].message.content}
        history = [*MESSAGES, answer, {"role": "user", "content": "and then?"}]
        # The evidence that names the conversation's session is looked up by the admission itself.
        assert await trips(client.chat.completions.create(model="up/m", messages=history)) == 2
