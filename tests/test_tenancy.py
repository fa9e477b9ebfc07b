"""Tenancy and secrets at the edge: who may read which trace, what the access log can see, how much a tenant may
store, and what an unknown path tells a caller without a key. Official SDKs against an in-process gateway."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream

from .conftest import PROXY_KEY

TEAM_KEY, OTHER_KEY, ADMIN_KEY = "team-a-key-0001", "global-key-0002", "admin-key-0003"
MESSAGES = [{"role": "user", "content": "hi"}]


def gateway(tmp_path, **extra: Any) -> RotatorASGI:
    config = {
        "providers": {"up": {"protocol": "openai_chat", "base_url": "http://up/v1", "credentials": ["sk-ten-1111"]}},
        "auth": {
            "api_keys": [PROXY_KEY, OTHER_KEY, {"key": TEAM_KEY, "scope": "team-a"}],
            "admin_keys": [ADMIN_KEY],
        },
        "scopes": {"team-a": {"fallback_to_global": True}},
        "trace": {"enabled": True, "dir": str(tmp_path)},
        **extra,
    }
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))


def sdk(app: RotatorASGI, key: str) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=key, http_client=http, max_retries=0)


async def test_a_trace_is_read_by_its_owner_and_admins_only(tmp_path):
    app = gateway(tmp_path)
    async with sdk(app, TEAM_KEY) as team:
        raw = await team.chat.completions.with_raw_response.create(model="up/m", messages=MESSAGES)
    request_id = raw.headers["x-request-id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        read = {
            key: (await http.get(f"/rotator/traces/{request_id}", headers={"x-api-key": key})).status_code
            for key in (TEAM_KEY, OTHER_KEY, PROXY_KEY, ADMIN_KEY)
        }
    await app.shutdown()
    # A global key does not read a tenant's prompt; nobody can tell a foreign trace from a missing one.
    assert read == {TEAM_KEY: 200, OTHER_KEY: 404, PROXY_KEY: 404, ADMIN_KEY: 200}


async def test_a_client_request_id_cannot_add_to_another_trace(tmp_path):
    app = gateway(tmp_path)
    async with sdk(app, PROXY_KEY) as client:
        first = await client.chat.completions.with_raw_response.create(model="up/m", messages=MESSAGES)
        victim = first.headers["x-request-id"]
        second = await client.chat.completions.with_raw_response.create(
            model="up/m", messages=MESSAGES, extra_headers={"x-request-id": victim}
        )
    await app.shutdown()
    assert second.headers["x-request-id"] != victim
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


async def test_a_query_key_never_reaches_the_access_log(tmp_path):
    app = gateway(tmp_path)
    seen: dict[str, bytes] = {}

    async def server(scope, receive, send):  # what uvicorn's access log reads once the response went out
        await app(scope, receive, send)
        seen["query"] = scope["query_string"]

    body = {"model": "up/m", "messages": MESSAGES}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server), base_url="http://gw") as http:
        reply = await http.post(f"/v1/chat/completions?key={PROXY_KEY}&trace=1", json=body)
    await app.shutdown()
    assert reply.status_code == 200
    assert PROXY_KEY.encode() not in seen["query"] and b"trace=1" in seen["query"]


async def test_stored_responses_are_capped_per_owner(tmp_path):
    app = gateway(tmp_path, responses={"max_bytes_per_owner": 1500})
    async with sdk(app, TEAM_KEY) as team, sdk(app, OTHER_KEY) as other:
        await team.responses.create(model="up/m", input="hi")
        with pytest.raises(openai.RateLimitError, match="store: false"):
            for _ in range(5):
                await team.responses.create(model="up/m", input="hi")
        assert (await team.responses.create(model="up/m", input="hi", store=False)).output_text
        assert (await other.responses.create(model="up/m", input="hi")).output_text  # another owner is unaffected
    await app.shutdown()


@pytest.mark.parametrize("path", ["/v1/unknown", "/rotator/traces/x", "/v1/responses/resp_1", "/etc/passwd"])
async def test_without_a_key_every_path_is_401_in_shape(tmp_path, path):
    app = gateway(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        reply = await http.get(path)
    await app.shutdown()
    assert reply.status_code == 401 and reply.json()["error"]["type"] == "authentication_error"
