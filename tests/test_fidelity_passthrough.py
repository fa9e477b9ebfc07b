"""Same protocol in and out: real provider answers reach a client of the same protocol untouched except for the
gateway's own rewrites (its response id, the model as the client addressed it, Responses item ids and lineage).

Extra choices, logprobs, annotations, citations, server-tool blocks, grounding and safety metadata and hosted
tool items all come from golden transcripts of the real APIs, served byte for byte, and are checked through
the official SDKs and against the upstream's own bytes.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator import RotatorASGI
from asgi_rotator.sse import SSEDecoder

from .conftest import PROXY_KEY
from .golden import GoldenUpstream, golden

BASES = {"openai_chat": "http://up/v1", "openai_responses": "http://up/v1", "anthropic_messages": "http://up"}
BASES["gemini"] = "http://up"
#: Where each protocol's answer names its id and model (the gateway's rewrites), top level.
REWRITTEN = {
    "openai_chat": ("id", "model"),
    "anthropic_messages": ("id", "model"),
    "gemini": ("responseId", "modelVersion"),
    "openai_responses": ("id", "model", "previous_response_id"),
}
ROUTES = {
    "openai_chat": "/v1/chat/completions",
    "anthropic_messages": "/v1/messages",
    "openai_responses": "/v1/responses",
}
JSON_ANSWERS = [
    ("openai_chat", "openai_chat/response_n3_system_fingerprint"),
    ("openai_chat", "openai_chat/response_logprobs"),
    ("openai_chat", "openai_chat/response_url_citation"),
    ("anthropic_messages", "anthropic_messages/response_web_search"),
    ("gemini", "gemini/response_grounding"),
    ("gemini", "gemini/response_citation_metadata"),
    ("gemini", "gemini/response_safety_cached"),
    ("openai_responses", "openai_responses/response_web_search"),
]
STREAM_ANSWERS = [
    ("openai_chat", "openai_chat/stream_n3"),
    ("openai_chat", "openai_chat/stream_logprobs_usage"),
    ("anthropic_messages", "anthropic_messages/stream_web_search"),
    ("openai_responses", "openai_responses/stream_web_search"),
    ("gemini", "gemini/stream_thought_signature"),
]


def mounted(protocol: str, upstream: GoldenUpstream) -> RotatorASGI:
    providers = {"up": {"protocol": protocol, "base_url": BASES[protocol], "credentials": ["sk-golden-1111"]}}
    return RotatorASGI(
        {"providers": providers, "auth": {"api_keys": [PROXY_KEY]}},
        upstream_transport=httpx.ASGITransport(app=upstream),
    )


def question(protocol: str, stream: bool) -> tuple[str, dict[str, Any]]:
    """The route and body of a one-line question in ``protocol``."""
    if protocol == "gemini":
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/v1beta/models/up/m:{action}", {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    if protocol == "openai_responses":
        body: dict[str, Any] = {"model": "up/m", "input": "hi"}
    else:
        body = {"model": "up/m", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    if stream and protocol == "openai_chat":
        body["stream_options"] = {"include_usage": True}  # else the gateway hides the usage chunk it asked for
    return ROUTES[protocol], body


def without_rewrites(protocol: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without the fields the gateway rewrites (Responses item ids included)."""
    out = {k: v for k, v in body.items() if k not in REWRITTEN[protocol]}
    if protocol == "openai_responses":
        out["output"] = [{k: v for k, v in item.items() if k != "id"} for item in out.get("output", [])]
    return out


async def answer(protocol: str, name: str, stream: bool) -> tuple[httpx2.Response, GoldenUpstream]:
    upstream = GoldenUpstream(name)
    gateway = mounted(protocol, upstream)
    route, body = question(protocol, stream)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway), base_url="http://gw") as http:
            response = await http.post(route, json=body, headers={"x-api-key": PROXY_KEY, "x-goog-api-key": PROXY_KEY})
    finally:
        await gateway.shutdown()
    return response, upstream


@pytest.mark.parametrize(("protocol", "name"), JSON_ANSWERS, ids=[a[1] for a in JSON_ANSWERS])
async def test_json_answers_pass_untouched_but_for_the_gateways_rewrites(protocol: str, name: str) -> None:
    response, _ = await answer(protocol, name, stream=False)
    assert response.status_code == 200
    got, sent = response.json(), golden(name)["body"]
    assert without_rewrites(protocol, got) == without_rewrites(protocol, sent)
    id_key, model_key = REWRITTEN[protocol][:2]
    assert got[id_key] != sent.get(id_key) and got[model_key] == "up/m"


@pytest.mark.parametrize(("protocol", "name"), STREAM_ANSWERS, ids=[a[1] for a in STREAM_ANSWERS])
async def test_stream_events_pass_untouched_but_for_the_gateways_rewrites(protocol: str, name: str) -> None:
    response, _ = await answer(protocol, name, stream=True)
    assert response.status_code == 200

    def payloads(blob: bytes) -> list[Any]:
        decoder = SSEDecoder()
        return [(event, data) for event, data in decoder.feed(blob) + decoder.flush()]

    got, sent = payloads(response.content), payloads(golden(name)["sse"].encode())
    assert [event for event, _ in got] == [event for event, _ in sent]
    assert len(got) == len(sent)
    first = json.loads(sent[0][1])
    upstream_id = first.get("id") or first.get("responseId") or (first.get("message") or first.get("response"))["id"]
    assert upstream_id not in response.text  # the response id the client sees is the gateway's own


async def test_chat_sdk_sees_every_choice_logprobs_and_annotations() -> None:
    upstream = GoldenUpstream(
        "openai_chat/response_n3_system_fingerprint", "openai_chat/response_logprobs", "openai_chat/stream_n3"
    )
    upstream.answer("openai_chat/response_url_citation")
    gateway = mounted("openai_chat", upstream)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    messages: Any = [{"role": "user", "content": "hi"}]
    try:
        async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http) as client:
            three = await client.chat.completions.create(model="up/m", messages=messages, n=3)
            logprobs = await client.chat.completions.create(model="up/m", messages=messages, logprobs=True)
            stream = await client.chat.completions.create(model="up/m", messages=messages, n=3, stream=True)
            indexes = {choice.index async for chunk in stream for choice in chunk.choices}
            cited = await client.chat.completions.create(model="up/m", messages=messages)
    finally:
        await gateway.shutdown()
    assert len(three.choices) == 3 and three.system_fingerprint and three.model == "up/m"
    assert logprobs.choices[0].logprobs is not None and logprobs.choices[0].logprobs.content
    assert indexes == {0, 1, 2}
    assert cited.choices[0].message.annotations and cited.choices[0].message.annotations[0].type == "url_citation"


async def test_anthropic_sdk_sees_server_tool_blocks_and_citations() -> None:
    upstream = GoldenUpstream("anthropic_messages/response_web_search", "anthropic_messages/stream_web_search")
    gateway = mounted("anthropic_messages", upstream)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    request: Any = {"model": "up/m", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with anthropic.AsyncAnthropic(base_url="http://gw", api_key=PROXY_KEY, http_client=http) as client:
            whole = await client.messages.create(**request)
            async with client.messages.stream(**request) as s:
                streamed = await s.get_final_message()
    finally:
        await gateway.shutdown()
    for message in (whole, streamed):
        kinds = [block.type for block in message.content]
        assert "server_tool_use" in kinds and "web_search_tool_result" in kinds
        assert any(block.type == "text" and block.citations for block in message.content)
        assert message.model == "up/m"


async def test_responses_sdk_sees_hosted_tool_items_and_citations() -> None:
    upstream = GoldenUpstream("openai_responses/response_web_search", "openai_responses/stream_web_search")
    gateway = mounted("openai_responses", upstream)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    try:
        async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http) as client:
            whole = await client.responses.create(model="up/m", input="hi")
            async with client.responses.stream(model="up/m", input="hi") as s:
                streamed = await s.get_final_response()
    finally:
        await gateway.shutdown()
    for response in (whole, streamed):
        assert "web_search_call" in [item.type for item in response.output]
        messages = [item for item in response.output if item.type == "message"]
        annotations = [a for item in messages for c in item.content if c.type == "output_text" for a in c.annotations]
        assert annotations and annotations[0].type == "url_citation"


async def test_gemini_sdk_sees_grounding_citations_and_safety() -> None:
    upstream = GoldenUpstream(
        "gemini/response_grounding", "gemini/response_citation_metadata", "gemini/response_safety_cached"
    )
    gateway = mounted("gemini", upstream)
    options = gtypes.HttpOptions(
        base_url="http://gw", httpx_async_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway))
    )
    client = genai.Client(api_key=PROXY_KEY, http_options=options)
    try:
        grounded, cited, safe = [await client.aio.models.generate_content(model="up/m", contents="hi") for _ in "123"]
    finally:
        await gateway.shutdown()
    assert grounded.candidates and grounded.candidates[0].grounding_metadata is not None
    assert cited.candidates and cited.candidates[0].citation_metadata is not None
    assert safe.candidates and safe.candidates[0].safety_ratings
    assert safe.usage_metadata is not None and safe.usage_metadata.cached_content_token_count
