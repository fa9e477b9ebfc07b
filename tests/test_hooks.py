"""The ``pre_request`` hook (inspect, modify, deny) and per-request provider keys (bring-your-own-key), through
the official SDKs and the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator import RequestDenied, RotatorASGI
from asgi_rotator.hooks import PreRequest
from asgi_rotator.testing import FakeUpstream, Reply

from .conftest import PROXY_KEY

MESSAGES: Any = [{"role": "user", "content": "hi"}]
OWN_KEY = "sk-own-caller-key-7777"


def app(upstream: FakeUpstream, tmp_path: Path | None = None, **options: Any) -> RotatorASGI:
    config: dict[str, Any] = {
        "providers": {
            "up": {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": ["sk-pool-1111"]},
            "other": {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": ["sk-other-2222"]},
        },
        "routing": {"fallback_groups": [["up/m", "other/m"]]},
        "auth": {"api_keys": [PROXY_KEY]},
    }
    if tmp_path is not None:
        config["trace"] = {"enabled": True, "dir": str(tmp_path)}
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream), **options)


def openai_sdk(gateway: RotatorASGI, **headers: str) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    return openai.AsyncOpenAI(
        base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0, default_headers=headers
    )


async def test_the_hook_sees_the_request_and_may_change_it():
    seen: list[PreRequest] = []

    async def hook(request: PreRequest) -> dict[str, Any] | None:
        seen.append(request)
        if request.operation == "embeddings":
            return {**request.body, "input": [text.upper() for text in request.body["input"]]}
        request.body["temperature"] = 0.1  # in place
        return None

    upstream = FakeUpstream()
    gateway = app(upstream, pre_request=hook)
    async with openai_sdk(gateway) as client:
        await client.chat.completions.create(model="up/m", messages=MESSAGES)
        await client.embeddings.create(model="up/emb", input=["abc"], encoding_format="float")
    await gateway.acompletion(model="up/m", messages=MESSAGES)
    await gateway.aclose()
    chat, embeddings, python = seen
    assert (chat.protocol, chat.operation, chat.path) == ("openai_chat", "generate", "/v1/chat/completions")
    assert chat.client_key_id and "authorization" not in chat.headers and chat.scope is None
    assert embeddings.operation == "embeddings" and python.client_key_id is None
    assert upstream.requests[0].body["temperature"] == 0.1 and upstream.requests[2].body["temperature"] == 0.1
    assert upstream.requests[1].body["input"] == ["ABC"]


async def test_a_denied_request_is_an_error_in_each_client_protocol():
    async def hook(request: PreRequest) -> None:
        if "forbidden" in json.dumps(request.body):
            raise RequestDenied("Requests about forbidden topics are refused here.")

    upstream = FakeUpstream()
    gateway = app(upstream, pre_request=hook)
    asgi = httpx2.ASGITransport(app=gateway)
    async with openai_sdk(gateway) as client:
        with pytest.raises(openai.PermissionDeniedError, match="forbidden topics"):
            await client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "forbidden"}])
        with pytest.raises(openai.PermissionDeniedError):
            await client.images.edit(model="up/forbidden", image=("a.png", b"png", "image/png"), prompt="x")
    async with anthropic.AsyncAnthropic(
        base_url="http://gw", api_key=PROXY_KEY, http_client=httpx2.AsyncClient(transport=asgi), max_retries=0
    ) as claude:
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            await claude.messages.create(
                model="up/m", max_tokens=8, messages=[{"role": "user", "content": "forbidden"}]
            )
    options = gtypes.HttpOptions(
        base_url="http://gw", httpx_async_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway))
    )
    with pytest.raises(genai.errors.ClientError) as gemini_denied:
        await genai.Client(api_key=PROXY_KEY, http_options=options).aio.models.generate_content(
            model="up/m", contents="forbidden"
        )
    await gateway.aclose()
    assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert gemini_denied.value.code == 403
    assert not upstream.requests


async def test_own_key_is_used_for_that_call_only_and_never_cooled_pooled_or_traced(tmp_path: Path):
    upstream = FakeUpstream()
    upstream.on_key(OWN_KEY, Reply(status=429, retry_after=60))
    gateway = app(upstream, tmp_path)
    async with openai_sdk(gateway, **{"x-rotator-provider-key": OWN_KEY}) as client:
        with pytest.raises(openai.APIStatusError) as limited:
            await client.chat.completions.create(model="up/m", messages=MESSAGES)
    upstream.on_key(OWN_KEY, None)
    served = await gateway.acompletion(model="up/m", messages=MESSAGES, provider_key=OWN_KEY)
    pooled = await gateway.acompletion(model="up/m", messages=MESSAGES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        states = (await http.get("/rotator/credentials", headers={"authorization": f"Bearer {PROXY_KEY}"})).text
    await gateway.aclose()
    assert limited.value.status_code == 503 and "tried: up/m)" in limited.value.message
    # The 429 on the caller's key neither fell back to another provider nor cooled anything of the pool.
    assert upstream.keys_used() == [OWN_KEY, OWN_KEY, "sk-pool-1111"]
    assert served["choices"][0]["message"]["content"] and pooled["choices"][0]["message"]["content"]
    assert "7777" not in states
    traces = "".join(f.read_text() for f in tmp_path.rglob("*.jsonl"))
    assert traces and OWN_KEY not in traces


def test_the_hook_runs_on_responses_websocket_mode(gateway, fake: FakeUpstream):
    async def hook(request: PreRequest) -> None:
        if request.body.get("input") == "forbidden":
            raise RequestDenied("Not on this socket.")
        request.body["instructions"] = "be brief"

    provider = {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-ws-1111"]}
    base = gateway({"providers": {"up": provider}}, pre_request=hook)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
        with sdk.responses.connect() as connection:
            connection.send({"type": "response.create", "model": "up/m", "input": "forbidden"})
            refused = connection.recv()
            connection.send({"type": "response.create", "model": "up/m", "input": "fine"})
            while connection.recv().type != "response.completed":
                pass
    assert refused.type == "error" and "Not on this socket" in json.dumps(refused.model_dump())
    assert len(fake.requests) == 1 and fake.requests[0].body["messages"][0] == {"role": "system", "content": "be brief"}
