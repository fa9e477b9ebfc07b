"""``protocol: litellm``: a LiteLLM provider pointed at a fake OpenAI upstream on loopback, serving the OpenAI,
Anthropic and Gemini SDKs (stream and not), tool calls, embeddings, rotation, usage and LiteLLM's cost.

These tests need the optional ``litellm`` package and skip without it; the missing-extra error does not."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator import MissingDependency, RotatorASGI, litellm_loader
from asgi_rotator.testing import FakeUpstream, Reply

from .conftest import PROXY_KEY

needs_litellm = pytest.mark.skipif(importlib.util.find_spec("litellm") is None, reason="litellm is not installed")
MESSAGES: Any = [{"role": "user", "content": "hi"}]
TOOL: Any = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def config(*keys: str) -> dict[str, Any]:
    provider = {"protocol": "litellm", "base_url": "{fake}/v1", "credentials": list(keys or ["sk-ll-1111"])}
    return {"providers": {"ll": {**provider, "selection": "sequential"}}}


def test_a_missing_litellm_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(litellm_loader, "_loaded", [])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependency, match=r"pip install 'asgi-rotator\[litellm\]'"):
        RotatorASGI({"providers": {"ll": {"protocol": "litellm", "credentials": ["sk-ll-1111"]}}})
    RotatorASGI({"providers": {"up": {"protocol": "openai_chat", "base_url": "http://x/v1"}}})  # not needed: no error


@needs_litellm
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_openai_sdk_chat_with_tools_usage_and_litellm_cost(gateway, fake: FakeUpstream, stream: bool):
    fake.default = Reply(text="from litellm", tool_calls=[("lookup", {"q": "x"})])
    base = gateway(config())
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            async with client.chat.completions.stream(
                model="ll/openai/gpt-4o-mini",
                messages=MESSAGES,
                tools=[TOOL],
                stream_options={"include_usage": True},
            ) as s:
                completion = await s.get_final_completion()
        else:
            completion = await client.chat.completions.create(
                model="ll/openai/gpt-4o-mini", messages=MESSAGES, tools=[TOOL]
            )
    async with httpx.AsyncClient() as http:
        usage = (await http.get(f"{base}/rotator/usage", headers={"authorization": f"Bearer {PROXY_KEY}"})).json()
    message = completion.choices[0].message
    assert message.content == "from litellm" and message.tool_calls
    assert message.tool_calls[0].function.name == "lookup" and json.loads(message.tool_calls[0].function.arguments) == {
        "q": "x"
    }
    assert completion.choices[0].finish_reason == "tool_calls" and completion.usage
    assert completion.usage.prompt_tokens == 12 and completion.usage.completion_tokens == 8
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.model == "gpt-4o-mini" and sent.key == "sk-ll-1111"
    litellm = litellm_loader.loaded_litellm()  # imported by the app, offline (importing it first would fetch prices)
    assert litellm is not None
    prompt_cost, output_cost = litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=12, completion_tokens=8)
    row = usage["by_model"]["ll/openai/gpt-4o-mini"]
    assert row["input_tokens"] == 12 and row["cost_usd"] == pytest.approx(prompt_cost + output_cost)


@needs_litellm
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_anthropic_responses_and_gemini_sdks_through_a_litellm_provider(gateway, fake: FakeUpstream, stream):
    base = gateway(config())
    texts = []
    async with anthropic.AsyncAnthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as claude:
        request: Any = {"model": "ll/openai/xyz", "max_tokens": 64, "messages": MESSAGES}
        if stream:
            async with claude.messages.stream(**request) as s:
                message = await s.get_final_message()
        else:
            message = await claude.messages.create(**request)
        texts.append("".join(b.text for b in message.content if b.type == "text"))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            async with client.responses.stream(model="ll/openai/xyz", input="hi") as s:
                response = await s.get_final_response()
        else:
            response = await client.responses.create(model="ll/openai/xyz", input="hi")
        texts.append(response.output_text)
    async with httpx.AsyncClient() as http:
        options = gtypes.HttpOptions(base_url=base, httpx_async_client=http)
        google = genai.Client(api_key=PROXY_KEY, http_options=options)
        if stream:
            stream_chunks = await google.aio.models.generate_content_stream(model="ll/openai/xyz", contents="hi")
            texts.append("".join([c.text or "" async for c in stream_chunks]))
        else:
            texts.append((await google.aio.models.generate_content(model="ll/openai/xyz", contents="hi")).text)
    assert texts == ["Hello from the fake upstream."] * 3
    assert {r.model for r in fake.requests} == {"xyz"}


@needs_litellm
async def test_rotation_past_a_rate_limited_key_and_embeddings(gateway, fake: FakeUpstream):
    fake.on_key("sk-ll-limited", Reply(status=429, retry_after=30))
    base = gateway(config("sk-ll-limited", "sk-ll-good"))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=PROXY_KEY, max_retries=0) as client:
        completion = await client.chat.completions.with_raw_response.create(model="ll/openai/xyz", messages=MESSAGES)
        vectors = await client.embeddings.create(model="ll/openai/text-embedding-3-small", input=["abc", "de"])
    assert fake.keys_used()[:2] == ["sk-ll-limited", "sk-ll-good"]
    assert completion.headers["x-rotator-attempts"].startswith("ll/openai/xyz;")
    assert [d.embedding[0] for d in vectors.data] == [3.0, 2.0]
    assert fake.requests[-1].path == "/v1/embeddings" and fake.requests[-1].model == "text-embedding-3-small"
