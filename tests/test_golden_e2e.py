"""Real provider answers through the gateway to every client SDK: the official SDKs (openai, anthropic,
google-genai) against a mounted gateway whose upstream replays golden transcripts byte for byte."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator import RotatorASGI
from asgi_rotator.protocols import get_protocol
from asgi_rotator.sse import SSEDecoder

from .conftest import PROXY_KEY
from .golden import GoldenUpstream, golden

BASES = {"openai_chat": "http://up/v1", "openai_responses": "http://up/v1", "anthropic_messages": "http://up"}
BASES["gemini"] = "http://up"
#: (provider protocol, JSON answer, stream answer) from the real APIs.
ANSWERS = [
    ("openai_chat", "openai_chat/response_logprobs", "openai_chat/stream_logprobs_usage"),
    (
        "openai_responses",
        "openai_responses/response_reasoning_encrypted",
        "openai_responses/stream_reasoning_encrypted",
    ),
    ("anthropic_messages", "anthropic_messages/response_web_search", "anthropic_messages/stream_thinking_signature"),
    ("gemini", "gemini/response_thought_signature", "gemini/stream_thought_signature"),
]


def mounted(protocol: str, upstream: GoldenUpstream) -> RotatorASGI:
    config = {
        "providers": {"up": {"protocol": protocol, "base_url": BASES[protocol], "credentials": ["sk-golden-1111"]}},
        "auth": {"api_keys": [PROXY_KEY]},
    }
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


def expected(protocol: str, name: str) -> tuple[str, list[str]]:
    """The visible text and tool names of a golden answer (its parse is pinned in protocols/test_golden_provider)."""
    fixture = golden(name)
    if "body" in fixture:
        response = get_protocol(protocol).parse_response(fixture["body"])
        return response.text, [call.name for call in response.tool_calls]
    parser = get_protocol(protocol).stream_parser()
    decoder, events = SSEDecoder(), []
    for event, data in decoder.feed(fixture["sse"].encode()) + decoder.flush():
        events += parser.feed(event, data)
    text = "".join(e.text for e in events if e.kind == "text")
    return text, [e.name or "" for e in events if e.kind == "tool_call_start"]


async def ask(client_protocol: str, gateway: RotatorASGI, stream: bool) -> tuple[str, list[str]]:
    """One question through the client protocol's official SDK; returns the text and tool calls it got."""
    transport = httpx2.ASGITransport(app=gateway)
    if client_protocol in ("openai_chat", "openai_responses"):
        http = httpx2.AsyncClient(transport=transport)
        async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http) as client:
            if client_protocol == "openai_chat":
                messages: Any = [{"role": "user", "content": "hi"}]
                if stream:
                    async with client.chat.completions.stream(model="up/m", messages=messages) as s:
                        completion = await s.get_final_completion()
                else:
                    completion = await client.chat.completions.create(model="up/m", messages=messages)
                message = completion.choices[0].message
                return message.content or "", [c.function.name for c in message.tool_calls or []]
            if stream:
                async with client.responses.stream(model="up/m", input="hi") as s:
                    response = await s.get_final_response()
            else:
                response = await client.responses.create(model="up/m", input="hi")
            return response.output_text, [item.name for item in response.output if item.type == "function_call"]
    if client_protocol == "anthropic_messages":
        http = httpx2.AsyncClient(transport=transport)
        async with anthropic.AsyncAnthropic(base_url="http://gw", api_key=PROXY_KEY, http_client=http) as client:
            request: Any = {"model": "up/m", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
            if stream:
                async with client.messages.stream(**request) as s:
                    message = await s.get_final_message()
            else:
                message = await client.messages.create(**request)
            text = "".join(block.text for block in message.content if block.type == "text")
            return text, [block.name for block in message.content if block.type == "tool_use"]
    options = gtypes.HttpOptions(
        base_url="http://gw", httpx_async_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway))
    )
    client = genai.Client(api_key=PROXY_KEY, http_options=options)
    if stream:
        chunks = [c async for c in await client.aio.models.generate_content_stream(model="up/m", contents="hi")]
    else:
        chunks = [await client.aio.models.generate_content(model="up/m", contents="hi")]
    parts = [
        p
        for c in chunks
        for candidate in c.candidates or []
        for p in (candidate.content and candidate.content.parts) or []
    ]
    text = "".join(p.text for p in parts if p.text and not p.thought)
    return text, [p.function_call.name or "" for p in parts if p.function_call]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("client_protocol", ["openai_chat", "openai_responses", "anthropic_messages", "gemini"])
@pytest.mark.parametrize(("provider", "answer", "streamed"), ANSWERS, ids=[a[0] for a in ANSWERS])
async def test_real_answers_reach_every_client_sdk(provider, answer, streamed, client_protocol, stream):
    name = streamed if stream else answer
    upstream = GoldenUpstream(name)
    gateway = mounted(provider, upstream)
    try:
        got = await ask(client_protocol, gateway, stream)
    finally:
        await gateway.shutdown()
    want = expected(provider, name)
    assert got == want and (want[0] or want[1])
    assert upstream.requests[0]["headers"].get("authorization", "").endswith("1111") or any(
        v == "sk-golden-1111" for v in upstream.requests[0]["headers"].values()
    )
