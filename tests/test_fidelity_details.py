"""The smaller fidelity points, through the SDKs: Claude Code's mid-conversation system message keeps its
place, and a thinking setting becomes ``reasoning_effort`` only for OpenAI reasoning models."""

from __future__ import annotations

import json

import anthropic
import pytest

from .conftest import PROXY_KEY

BASES = {
    "openai_chat": "{fake}/v1",
    "openai_responses": "{fake}/v1",
    "anthropic_messages": "{fake}",
    "gemini": "{fake}",
}
MESSAGES = [
    {"role": "user", "content": "hi"},
    {"role": "system", "content": "Available agent types: claude."},
    {"role": "user", "content": "which agents?"},
]


def client(gateway, protocol: str) -> anthropic.Anthropic:
    config = {"providers": {"up": {"protocol": protocol, "base_url": BASES[protocol], "credentials": ["sk-1"]}}}
    return anthropic.Anthropic(base_url=gateway(config), api_key=PROXY_KEY, max_retries=0)


def test_claude_codes_mid_conversation_system_message_keeps_its_place_at_anthropic(gateway, fake):
    with client(gateway, "anthropic_messages") as sdk:
        sdk.messages.create(
            model="up/m", max_tokens=100, system="You are Claude Code.", messages=MESSAGES,
            extra_headers={"anthropic-beta": "mid-conversation-system-2026-04-07"},
        )  # fmt: skip
    body = fake.requests[0].body
    assert body["system"] == [{"type": "text", "text": "You are Claude Code."}]
    assert [m["role"] for m in body["messages"]] == ["user", "system", "user"]
    assert body["messages"][1]["content"] == "Available agent types: claude."


@pytest.mark.parametrize(
    ("protocol", "roles"),
    [("openai_chat", ["system", "user", "system", "user"]), ("gemini", ["user", "user"])],
)
def test_mid_conversation_system_message_keeps_its_place_across_protocols(gateway, fake, protocol, roles):
    with client(gateway, protocol) as sdk:
        sdk.messages.create(model="up/m", max_tokens=100, system="You are Claude Code.", messages=MESSAGES)
    body = fake.requests[0].body
    turns = body["messages"] if protocol == "openai_chat" else body["contents"]
    assert [t["role"] for t in turns] == roles
    texts = json.dumps(turns)
    assert texts.index("hi") < texts.index("Available agent types") < texts.index("which agents?")


@pytest.mark.parametrize(
    ("protocol", "model", "sent"),
    [
        ("openai_chat", "gpt-5-mini", True),
        ("openai_chat", "gpt-4.1", False),
        ("openai_chat", "deepseek-chat", False),
        ("openai_responses", "o4-mini", True),
        ("openai_responses", "gpt-4o", False),
    ],
)
def test_thinking_becomes_reasoning_effort_only_for_reasoning_models(gateway, fake, protocol, model, sent):
    with client(gateway, protocol) as sdk:
        raw = sdk.messages.with_raw_response.create(
            model=f"up/{model}", max_tokens=4000, messages=[{"role": "user", "content": "think"}],
            thinking={"type": "enabled", "budget_tokens": 2048},
        )  # fmt: skip
    body = fake.requests[0].body
    effort = body.get("reasoning_effort") if protocol == "openai_chat" else (body.get("reasoning") or {}).get("effort")
    assert (effort == "low") is sent and (effort is None) is not sent
    warned = [w["field"] for w in json.loads(raw.headers.get("x-rotator-warnings", "[]"))]
    assert ("reasoning" in warned) is not sent
