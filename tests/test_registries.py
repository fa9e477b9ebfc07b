"""Per-app registries and the client-response adapter stage, through the official SDK against mounted apps."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI
from asgi_rotator.errors import BackendError
from asgi_rotator.pipeline import PayloadAdapter, builtin_adapters
from asgi_rotator.protocols import OpenAIChatProtocol, builtin_protocols
from asgi_rotator.protocols.base import NativeRequest
from asgi_rotator.protocols.unified import UnifiedRequest
from asgi_rotator.state import MemoryBackend
from asgi_rotator.testing import FakeUpstream

from .conftest import PROXY_KEY

MESSAGES = [{"role": "user", "content": "hi"}]


class TaggingChat(OpenAIChatProtocol):
    """A deviating provider: the same protocol, one extra field in every request it builds."""

    def build_request(self, request: UnifiedRequest, model: str) -> NativeRequest:
        native = super().build_request(request, model)
        native.body["deviation"] = "tagged"
        return native


class Stamp(PayloadAdapter):
    """Adds a field to the body the client receives."""

    name = "stamp"
    stages = frozenset({"client_response"})

    def transform_client_response(self, body: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {**body, "stamped_by": f"{ctx.provider}:{ctx.config['mark']}"}


def app(upstream: FakeUpstream, **options: Any) -> RotatorASGI:
    provider = {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": ["sk-reg-1111"]}
    provider.update(options.pop("provider", {}))
    config = {"providers": {"up": provider}, "auth": {"api_keys": [PROXY_KEY]}}
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream), **options)


def sdk(gateway: RotatorASGI) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=client, max_retries=0)


async def test_a_protocol_registered_for_one_app_changes_that_app_only():
    upstream = FakeUpstream()
    protocols = builtin_protocols()
    protocols.register(TaggingChat(), replace=True)
    custom, plain = app(upstream, protocols=protocols), app(upstream)
    for gateway in (custom, plain):
        async with sdk(gateway) as client:
            await client.chat.completions.create(model="up/m", messages=MESSAGES)
        await gateway.shutdown()
    tagged, untouched = upstream.requests
    assert tagged.body["deviation"] == "tagged" and "deviation" not in untouched.body


async def test_client_response_adapters_see_the_body_the_client_gets():
    upstream = FakeUpstream()
    adapters = builtin_adapters()
    adapters.register(Stamp)
    gateway = app(upstream, adapters=adapters, provider={"adapters": [{"name": "stamp", "config": {"mark": "x"}}]})
    async with sdk(gateway) as client:
        completion = await client.chat.completions.create(model="up/m", messages=MESSAGES)
    await gateway.shutdown()
    assert completion.model_extra == {"stamped_by": "up:x"} and completion.choices[0].message.content
    with pytest.raises(Exception, match="unknown adapter 'stamp'"):
        app(upstream, provider={"adapters": ["stamp"]})  # another app's registry does not know it


class FailingAnchors(MemoryBackend):
    """Shared state that fails just as a finished stream records its session evidence."""

    async def write_many(self, ops):
        if any(":anchor:" in op[1] for op in ops):
            raise BackendError("redis went away")
        await super().write_many(ops)


async def test_state_that_fails_after_a_served_stream_is_logged_never_turned_into_an_error(caplog):
    gateway = app(FakeUpstream(), backend=FailingAnchors())
    async with sdk(gateway) as client:
        stream = await client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert "state was not written: redis went away" in caplog.text
    await gateway.shutdown()


class FailingFieldCache(MemoryBackend):
    """Shared state that fails as an answer's field-cache values are stored."""

    async def append(self, key, value, max_len, ttl=None):
        raise BackendError("redis went away")


async def test_a_field_cache_that_cannot_store_never_fails_a_served_answer(caplog):
    rule = {
        "name": "asked",
        "source": "unified_request",
        "path": "messages[-1].parts[0].text",
        "mode": "all",
        "inject": {"path": "x_asked"},
    }
    gateway = app(FakeUpstream(), backend=FailingFieldCache(), provider={"field_cache": [rule]})
    async with sdk(gateway) as client:
        completion = await client.chat.completions.create(model="up/m", messages=MESSAGES)
    await gateway.shutdown()
    assert completion.choices[0].message.content
    assert "field-cache values not stored: redis went away" in caplog.text
