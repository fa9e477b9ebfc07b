"""Reasoning state survives a round trip through a client protocol that cannot carry it, and never crosses
provider families."""

from __future__ import annotations

import json

import openai
import pytest

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
SIGNATURE = "c2lnLWZha2UtMDAwMQ=="


def two_turns(gateway, fake, protocol: str, base_url: str, reply: Reply, *, stream: bool = False):
    base = gateway({"providers": {"up": {"protocol": protocol, "base_url": base_url, "credentials": ["sk-cont-1111"]}}})
    fake.script(reply, Reply(text="done"))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        messages = [{"role": "user", "content": "look it up"}]
        if stream:
            with client.chat.completions.stream(model="up/m", messages=messages, tools=TOOLS) as s:
                first = s.get_final_completion()
        else:
            first = client.chat.completions.create(model="up/m", messages=messages, tools=TOOLS)
        call = first.choices[0].message.tool_calls[0]
        assert SIGNATURE not in first.model_dump_json()  # the Chat client never sees provider state
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "found it"},
        ]
        client.chat.completions.create(model="up/m", messages=messages, tools=TOOLS)
    return fake.requests[-1].body, call.id


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_signature_returns_on_the_next_function_call(gateway, fake, stream):
    reply = Reply(text="", reasoning="thinking", tool_calls=[("lookup", {})])
    body, _ = two_turns(gateway, fake, "gemini", "{fake}", reply, stream=stream)
    model_turn = next(c for c in body["contents"] if c["role"] == "model")
    function_part = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert function_part["thoughtSignature"] == SIGNATURE


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_thinking_block_returns_before_the_tool_use(gateway, fake, stream):
    body, call_id = two_turns(
        gateway,
        fake,
        "anthropic_messages",
        "{fake}",
        Reply(text="", reasoning="Let me look.", tool_calls=[("lookup", {})]),
        stream=stream,
    )
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    assert assistant["content"][0] == {"type": "thinking", "thinking": "Let me look.", "signature": SIGNATURE}
    assert assistant["content"][1]["type"] == "tool_use" and assistant["content"][1]["id"] == call_id


def test_state_never_crosses_families(gateway, fake):
    config = {
        "providers": {
            "gem": {"protocol": "gemini", "base_url": "{fake}", "credentials": ["sk-cont-1111"]},
            "ant": {"protocol": "anthropic_messages", "base_url": "{fake}", "credentials": ["sk-cont-2222"]},
        }
    }
    base = gateway(config)
    fake.script(Reply(text="", reasoning="gemini thinking", tool_calls=[("lookup", {})]), Reply(text="done"))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        messages = [{"role": "user", "content": "look it up"}]
        first = client.chat.completions.create(model="gem/m", messages=messages, tools=TOOLS)
        call = first.choices[0].message.tool_calls[0]
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "found it"},
        ]
        client.chat.completions.create(model="ant/m", messages=messages, tools=TOOLS)
    sent = json.dumps(fake.requests[-1].body)
    assert SIGNATURE not in sent and "thoughtSignature" not in sent


@pytest.mark.parametrize("stream", [False, True])
def test_responses_encrypted_reasoning_returns_before_the_function_call(gateway, fake, stream):
    body, call_id = two_turns(
        gateway,
        fake,
        "openai_responses",
        "{fake}/v1",
        Reply(text="", reasoning="Let me look.", tool_calls=[("lookup", {})]),
        stream=stream,
    )
    kinds = [item["type"] for item in body["input"]]
    reasoning = body["input"][kinds.index("reasoning")]
    assert reasoning["encrypted_content"] == SIGNATURE
    assert kinds.index("reasoning") < kinds.index("function_call")
    assert body["input"][kinds.index("function_call")]["call_id"] == call_id


def test_state_stays_within_its_session(gateway, fake):
    """Two conversations that each name their own session: one's signature never reaches the other."""
    base = gateway({"providers": {"up": {"protocol": "gemini", "base_url": "{fake}", "credentials": ["sk-cont-1111"]}}})
    fake.script(
        Reply(text="", reasoning="thinking", tool_calls=[("lookup", {})], signature="c2lnLWFsaWNl"),
        Reply(text="done"),
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        messages = [{"role": "user", "content": "look it up"}]
        first = client.chat.completions.create(
            model="up/m", messages=messages, tools=TOOLS, extra_headers={"x-session-id": "alice"}
        )
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": first.choices[0].message.tool_calls[0].id, "content": "found it"},
        ]
        client.chat.completions.create(
            model="up/m", messages=messages, tools=TOOLS, extra_headers={"x-session-id": "mallory"}
        )
    assert "thoughtSignature" not in json.dumps(fake.requests[-1].body)


@pytest.mark.parametrize("stream", [False, True])
def test_responses_chain_keeps_gemini_signatures_across_turns(gateway, fake, stream):
    """A Responses client continuing by previous_response_id stays in one session, so the Gemini signature of
    its first turn's function call returns on the second."""
    base = gateway({"providers": {"up": {"protocol": "gemini", "base_url": "{fake}", "credentials": ["sk-cont-1111"]}}})
    fake.script(Reply(text="", reasoning="thinking", tool_calls=[("lookup", {})]), Reply(text="done"))
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            with client.responses.stream(model="up/m", input="look it up", tools=tools) as s:
                first = s.get_final_response()
        else:
            first = client.responses.create(model="up/m", input="look it up", tools=tools)
        call = next(item for item in first.output if item.type == "function_call")
        assert SIGNATURE not in first.model_dump_json()
        client.responses.create(
            model="up/m",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "found it"}],
            tools=tools,
        )
    model_turn = next(c for c in fake.requests[-1].body["contents"] if c["role"] == "model")
    function_part = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert function_part["thoughtSignature"] == SIGNATURE
