"""``GET /rotator/requests`` (recent summaries, scoped like traces, shared by replicas) and the request log line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI
from asgi_rotator.state import MemoryBackend
from asgi_rotator.testing import FakeUpstream, Reply

from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "hi"}]
ADMIN = "admin-key-requests-0001"
TEAM = "team-key-requests-0002"
REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def scoped_config() -> dict[str, Any]:
    return {
        "providers": {
            "fake": openai_provider(
                {"key": "sk-req-first-1111", "priority": 1}, {"key": "sk-req-second-2222", "priority": 2}
            )
        },
        "auth": {"api_keys": [PROXY_KEY, {"key": TEAM, "scope": "team-a"}], "admin_keys": [ADMIN]},
        "scopes": {"team-a": {"providers": {"fake": {"credentials": ["sk-req-team-3333"]}}}},
    }


def settled(read: Callable[[], Any], count: int) -> Any:
    """``read()`` once it holds ``count`` items: a request's summary and log line are written just after its
    answer went out, so the client may see the answer a moment before them."""
    for _ in range(200):
        value = read()
        if len(value) >= count:
            return value
        time.sleep(0.01)
    return value


def listing(base: str, key: str, **params: Any) -> httpx.Response:
    return httpx.get(base + "/rotator/requests", params=params, headers={"authorization": f"Bearer {key}"})


def test_recent_requests_list_attempts_and_are_scoped_like_traces(gateway, fake, trace_dir):
    config = scoped_config()
    config["providers"]["fake"]["selection"] = "priority"
    base = gateway(config)
    fake.on_key("sk-req-first-1111", Reply(status=429, retry_after=30))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        served = client.chat.completions.with_raw_response.create(model="fake/m", messages=MESSAGES)
    with openai.OpenAI(base_url=base + "/v1", api_key=TEAM, max_retries=0) as team:
        team.chat.completions.create(model="fake/m", messages=MESSAGES, stream=True).close()
        with pytest.raises(openai.NotFoundError):
            team.chat.completions.create(model="fake/", messages=MESSAGES)

    settled(lambda: listing(base, ADMIN).json()["requests"], 3)
    mine = listing(base, PROXY_KEY).json()["requests"]
    assert len(mine) == 1
    row = mine[0]
    assert row["id"] == served.headers["x-request-id"]
    assert row["scope"] is None and row["protocol"] == "openai_chat" and row["model"] == "fake/m"
    assert row["target"] == "fake/m" and row["credential"] == "...2222" and row["status"] == 200
    assert row["stream"] is False and row["latency_ms"] > 0 and row["time"] > 1.7e9
    assert row["input_tokens"] == 12 and row["output_tokens"] == 8
    assert [(a["credential"], a["outcome"], a["status"]) for a in row["attempts"]] == [
        ("...1111", "rate_limit", 429),
        ("...2222", "ok", None),
    ]
    assert all(a["duration_ms"] >= 0 for a in row["attempts"])

    team_rows = listing(base, TEAM).json()["requests"]
    assert [(r["status"], r["scope"], r["stream"]) for r in team_rows] == [
        (404, "team-a", False),
        (200, "team-a", True),
    ]
    assert team_rows[0]["error"] == "not_found" and team_rows[1]["credential"] == "...3333"

    everything = listing(base, ADMIN, limit=2).json()["requests"]
    assert [r["id"] for r in everything] == [r["id"] for r in team_rows]  # newest first, across scopes
    assert len(listing(base, ADMIN).json()["requests"]) == 3

    text = json.dumps(listing(base, ADMIN).json())
    assert "sk-req-" not in text and PROXY_KEY not in text and TEAM not in text

    assert listing(base, PROXY_KEY, limit=0).status_code == 400
    assert listing(base, PROXY_KEY, limit="x").status_code == 400
    assert httpx.get(base + "/rotator/requests").status_code == 401
    # The gateway's own reads are neither listed nor traced (the dashboard polls them).
    reply = listing(base, ADMIN)
    assert "x-request-id" not in reply.headers
    assert len(reply.json()["requests"]) == 3


async def _serve_one(app: RotatorASGI) -> str:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0) as sdk:
        reply = await sdk.chat.completions.with_raw_response.create(model="up/m", messages=MESSAGES)
    return reply.headers["x-request-id"]


async def _listed(app: RotatorASGI, count: int) -> list[str]:
    """The ids ``app`` lists, once there are ``count`` (summaries are written just after each answer)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        for _ in range(200):
            reply = await http.get("/rotator/requests", headers={"x-api-key": PROXY_KEY})
            ids = [row["id"] for row in reply.json()["requests"]]
            if len(ids) >= count:
                break
            await asyncio.sleep(0.01)
    return ids


def _replicas(backend: Any, **state: Any) -> list[RotatorASGI]:
    config = {
        "providers": {"up": {"protocol": "openai_chat", "base_url": "http://u/v1", "credentials": ["sk-rep-1111"]}},
        "auth": {"api_keys": [PROXY_KEY]},
        "state": state,
    }
    transport = httpx.ASGITransport(app=FakeUpstream())
    return [RotatorASGI(config, backend=backend, upstream_transport=transport) for _ in range(2)]


async def test_every_replica_sees_the_requests_another_served():
    one, two = _replicas(MemoryBackend())
    served = await _serve_one(one)
    assert await _listed(two, 1) == [served]


@pytest.mark.redis
async def test_replicas_sharing_redis_see_each_others_requests():
    from asgi_rotator.state.redis import RedisBackend

    backend = RedisBackend.from_url(REDIS_URL)
    one, two = _replicas(backend, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    try:
        served = [await _serve_one(one), await _serve_one(two)]
        assert await _listed(one, 2) == served[::-1]
    finally:
        await backend.aclose()


def test_one_log_line_per_request_with_no_secret(gateway, fake, caplog):
    config = scoped_config()
    config["logging"] = {"format": "json"}
    base = gateway(config)
    fake.on_key("sk-req-first-1111", Reply(status=500, error_message="upstream says sk-req-first-1111 is bad"))
    caplog.set_level(logging.DEBUG)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        for _ in range(2):
            client.chat.completions.create(model="fake/m", messages=MESSAGES)
    with openai.OpenAI(base_url=base + "/v1", api_key=TEAM, max_retries=0) as team:
        with pytest.raises(openai.NotFoundError):
            team.chat.completions.create(model="fake/", messages=MESSAGES)
    httpx.get(base + f"/rotator/requests?key={ADMIN}")
    httpx.post(base + "/v1/chat/completions", headers={"authorization": "Bearer wrong-key-9999"}, json={})

    request_lines = settled(lambda: [r for r in caplog.records if r.name == "asgi_rotator.requests"], 4)
    assert len(request_lines) == 4  # two served, one 404, one 401; the /rotator read is not logged
    lines = [json.loads(r.getMessage()) for r in request_lines]
    served = lines[0]
    assert served["event"] == "request" and served["status"] == 200 and served["target"] == "fake/m"
    assert served["credential"] in ("...1111", "...2222") and served["attempts"] >= 1
    assert served["input_tokens"] == 12 and served["latency_ms"] > 0 and "cost_usd" in served
    assert lines[2]["scope"] == "team-a" and lines[2]["status"] == 404 and lines[2]["error"] == "not_found"
    assert lines[3]["status"] == 401 and request_lines[3].levelno == logging.WARNING
    secrets = [PROXY_KEY, TEAM, ADMIN, "sk-req-first-1111", "sk-req-second-2222", "sk-req-team-3333", "wrong-key-9999"]
    ours = [record for record in caplog.records if record.name.startswith("asgi_rotator")]
    every_line = "\n".join(record.getMessage() for record in ours)
    assert not [s for s in secrets if s in every_line]


def test_text_log_lines_are_key_value_pairs(gateway, fake, caplog):
    base = gateway({"providers": {"fake": openai_provider("sk-text-log-1111")}})
    caplog.set_level(logging.INFO, logger="asgi_rotator.requests")
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        reply = client.chat.completions.with_raw_response.create(model="fake/m", messages=MESSAGES)
    [line] = settled(lambda: [r.getMessage() for r in caplog.records if r.name == "asgi_rotator.requests"], 1)
    assert line.startswith(f"request request_id={reply.headers['x-request-id']} method=POST path=/v1/chat/completions")
    assert "target=fake/m credential=...1111 status=200" in line and "attempts=1 attempt_outcomes=ok" in line
