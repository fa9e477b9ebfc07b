"""OpenAI Chat through the official SDK, sync and async, against a Starlette-mounted gateway."""

from __future__ import annotations

import json

import openai
import pytest

from asgi_rotator.protocols.unified import Usage
from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@pytest.fixture
def client(gateway):
    base = gateway({"providers": {"fake": openai_provider("sk-a", "sk-b")}})
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def aclient(gateway):
    base = gateway({"providers": {"fake": openai_provider("sk-a", "sk-b")}})
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        yield client


def test_text_and_usage_with_cache_and_reasoning(client, fake):
    fake.script(
        Reply(
            text="Sunny.",
            reasoning="Let me think.",
            usage=Usage(input_tokens=8, cache_read_tokens=3, output_tokens=20, reasoning_tokens=5),
        )
    )
    reply = client.chat.completions.create(model="fake/gpt-x", messages=MESSAGES)
    assert reply.choices[0].message.content == "Sunny."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "fake/gpt-x"
    assert reply.id.startswith("chatcmpl-")
    assert reply.choices[0].message.model_extra["reasoning_content"] == "Let me think."
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 20, 31)
    assert usage.prompt_tokens_details.cached_tokens == 3
    assert usage.completion_tokens_details.reasoning_tokens == 5
    sent = fake.requests[-1]
    assert sent.model == "gpt-x" and sent.body["messages"] == MESSAGES


def test_stream_with_include_usage(client, fake):
    fake.script(Reply(text="Sunny and mild.", usage=Usage(input_tokens=9, output_tokens=4)))
    stream = client.chat.completions.create(
        model="fake/gpt-x", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sunny and mild."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 13


def test_stream_without_include_usage_hides_usage_but_upstream_is_asked(client, fake):
    chunks = list(client.chat.completions.create(model="fake/gpt-x", messages=MESSAGES, stream=True))
    assert all(c.usage is None for c in chunks)
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}


def test_tool_call_roundtrip(client, fake):
    fake.script(Reply(text="", tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="It is sunny."))
    first = client.chat.completions.create(model="fake/gpt-x", messages=MESSAGES, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    follow_up = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    second = client.chat.completions.create(model="fake/gpt-x", messages=follow_up, tools=TOOLS)
    assert second.choices[0].message.content == "It is sunny."
    sent = fake.requests[-1].body
    assert sent["tools"] == TOOLS
    assert sent["messages"][1]["tool_calls"][0]["id"] == call.id
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}


def test_streamed_tool_call_arguments_reassemble(client, fake):
    fake.script(Reply(text="", tool_calls=[("get_weather", {"city": "Paris", "unit": "celsius"})]))
    with client.chat.completions.stream(model="fake/gpt-x", messages=MESSAGES, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_legacy_function_call(client, fake):
    fake.script(Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"})]))
    reply = client.chat.completions.create(
        model="fake/gpt-x", messages=MESSAGES, functions=[TOOLS[0]["function"]], function_call="auto"
    )
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "function_call"
    assert message.function_call.name == "get_weather"
    assert json.loads(message.function_call.arguments) == {"city": "Oslo"}
    assert fake.requests[-1].body["functions"] == [TOOLS[0]["function"]]


def test_multimodal_parts_reach_upstream(client, fake):
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
    ]
    client.chat.completions.create(model="fake/gpt-x", messages=[{"role": "user", "content": content}])
    assert fake.requests[-1].body["messages"][0]["content"] == content


async def test_async_client_stream_and_non_stream(aclient, fake):
    reply = await aclient.chat.completions.create(model="fake/gpt-x", messages=MESSAGES)
    assert reply.choices[0].message.content == "Hello from the fake upstream."
    stream = await aclient.chat.completions.create(model="fake/gpt-x", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from the fake upstream."


def test_stream_that_ends_early_reports_an_error(client, fake):
    fake.script(Reply(text="A long answer that will be cut off", drop_after=3))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="fake/gpt-x", messages=MESSAGES, stream=True))


def test_unknown_fields_pass_through_same_protocol(client, fake):
    client.chat.completions.create(model="fake/gpt-x", messages=MESSAGES, extra_body={"logit_bias": {"42": 1}})
    assert fake.requests[-1].body["logit_bias"] == {"42": 1}
