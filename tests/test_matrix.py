"""The translation matrix: every client SDK x every provider protocol x stream and non-stream x plain text,
a tool call and reasoning, against FakeUpstream over loopback. Streams go through each SDK's own helper
(get_final_completion, get_final_response, get_final_message, the google-genai iterator)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY

PROVIDERS = {
    "openai_chat": "{fake}/v1",
    "openai_responses": "{fake}/v1",
    "anthropic_messages": "{fake}",
    "gemini": "{fake}",
}
CLIENTS = ["openai_chat", "openai_responses", "anthropic", "gemini"]
SCENARIOS = ["text", "tool", "reasoning"]
PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PROMPT = "What is the weather in Paris?"


@dataclass
class Outcome:
    """What a client SDK made of the answer."""

    text: str = ""
    reasoning: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stop: str = ""


def call_openai_chat(base: str, scenario: str, stream: bool) -> Outcome:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}]
    extra: dict[str, Any] = {"tools": tools} if scenario == "tool" else {}
    if scenario == "reasoning":
        extra["reasoning_effort"] = "low"
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        messages = [{"role": "user", "content": PROMPT}]
        if stream:
            with client.chat.completions.stream(model="up/m", messages=messages, **extra) as s:
                completion = s.get_final_completion()
        else:
            completion = client.chat.completions.create(model="up/m", messages=messages, **extra)
    message = completion.choices[0].message
    reasoning = (message.model_extra or {}).get("reasoning_content") or ""
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    return Outcome(message.content or "", reasoning, calls, completion.choices[0].finish_reason)


def call_openai_responses(base: str, scenario: str, stream: bool) -> Outcome:
    extra: dict[str, Any] = {}
    if scenario == "tool":
        extra["tools"] = [{"type": "function", "name": "get_weather", "parameters": PARAMETERS, "strict": False}]
    if scenario == "reasoning":
        extra["reasoning"] = {"effort": "low", "summary": "auto"}
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            with client.responses.stream(model="up/m", input=PROMPT, **extra) as s:
                response = s.get_final_response()
        else:
            response = client.responses.create(model="up/m", input=PROMPT, **extra)
    reasoning = "".join(s.text for item in response.output if item.type == "reasoning" for s in item.summary)
    calls = [(i.name, json.loads(i.arguments)) for i in response.output if i.type == "function_call"]
    return Outcome(response.output_text, reasoning, calls, response.status)


def call_anthropic(base: str, scenario: str, stream: bool) -> Outcome:
    extra: dict[str, Any] = {}
    if scenario == "tool":
        extra["tools"] = [{"name": "get_weather", "input_schema": PARAMETERS}]
    if scenario == "reasoning":
        extra["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        request = {"model": "up/m", "max_tokens": 2048, "messages": [{"role": "user", "content": PROMPT}], **extra}
        if stream:
            with client.messages.stream(**request) as s:
                message = s.get_final_message()
        else:
            message = client.messages.create(**request)
    text = "".join(b.text for b in message.content if b.type == "text")
    reasoning = "".join(b.thinking for b in message.content if b.type == "thinking")
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    return Outcome(text, reasoning, calls, message.stop_reason or "")


def call_gemini(base: str, scenario: str, stream: bool) -> Outcome:
    client = genai.Client(api_key=PROXY_KEY, http_options=gtypes.HttpOptions(base_url=base, api_version="v1beta"))
    config = gtypes.GenerateContentConfig()
    if scenario == "tool":
        declaration = gtypes.FunctionDeclaration(name="get_weather", parameters_json_schema=PARAMETERS)
        config.tools = [gtypes.Tool(function_declarations=[declaration])]
    if scenario == "reasoning":
        config.thinking_config = gtypes.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
    outcome = Outcome()
    if stream:
        chunks = list(client.models.generate_content_stream(model="up/m", contents=PROMPT, config=config))
    else:
        chunks = [client.models.generate_content(model="up/m", contents=PROMPT, config=config)]
    client.close()
    for chunk in chunks:
        candidate = chunk.candidates[0]
        for part in candidate.content.parts or [] if candidate.content else []:
            if part.function_call is not None:
                outcome.calls.append((part.function_call.name, dict(part.function_call.args or {})))
            elif part.thought:
                outcome.reasoning += part.text or ""
            elif part.text:
                outcome.text += part.text
        if candidate.finish_reason:
            outcome.stop = candidate.finish_reason.value
    return outcome


CALLERS = {
    "openai_chat": call_openai_chat,
    "openai_responses": call_openai_responses,
    "anthropic": call_anthropic,
    "gemini": call_gemini,
}
EXPECTED_STOP = {
    ("openai_chat", "text"): "stop",
    ("openai_chat", "tool"): "tool_calls",
    ("openai_responses", "text"): "completed",
    ("openai_responses", "tool"): "completed",
    ("anthropic", "text"): "end_turn",
    ("anthropic", "tool"): "tool_use",
    ("gemini", "text"): "STOP",
    ("gemini", "tool"): "STOP",
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("client", CLIENTS)
def test_translation_matrix(gateway, fake, client, provider, scenario, stream):
    base = gateway(
        {
            "providers": {
                "up": {"protocol": provider, "base_url": PROVIDERS[provider], "credentials": ["sk-matrix-1111"]}
            }
        }
    )
    if scenario == "tool":
        fake.script(Reply(text="", tool_calls=[("get_weather", {"city": "Paris", "unit": "celsius"})]))
    elif scenario == "reasoning":
        fake.script(Reply(text="It is sunny.", reasoning="The user asks about Paris weather."))
    else:
        fake.script(Reply(text="It is sunny in Paris today."))
    outcome = CALLERS[client](base, scenario, stream)

    if scenario == "tool":
        assert outcome.calls == [("get_weather", {"city": "Paris", "unit": "celsius"})]
    elif scenario == "reasoning":
        assert outcome.text == "It is sunny."
        assert outcome.reasoning == "The user asks about Paris weather."
    else:
        assert outcome.text == "It is sunny in Paris today." and not outcome.calls
    if (client, scenario) in EXPECTED_STOP:
        assert outcome.stop == EXPECTED_STOP[(client, scenario)]
    received = fake.requests[-1]
    assert received.protocol == provider and received.request is not None
    assert [m.text for m in received.request.messages if m.role == "user"] == [PROMPT]
    if scenario == "tool":
        assert [t.name for t in received.request.tools] == ["get_weather"]
        assert received.request.tools[0].parameters == PARAMETERS
