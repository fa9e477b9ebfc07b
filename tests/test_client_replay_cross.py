"""Recorded client traffic (tests/fixtures/clients, recorded from the real CLIs by scripts/record_clients)
replayed through the gateway: Codex to Anthropic, Gemini, OpenAI Chat (and its own Responses protocol);
Claude Code to OpenAI Chat and Gemini; Gemini CLI to Anthropic, OpenAI Chat and Responses. Every turn must be
accepted, reach the upstream as a valid request of that upstream's protocol (the fake upstream parses it with
the protocol's own parser), keep the client's tools as function tools, and answer in a shape the client's SDK
types accept."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from asgi_rotator.protocols.openai_responses.client_tools import flat_name

from .conftest import PROXY_KEY

CLIENTS = Path(__file__).parent / "fixtures" / "clients"
BASES = {
    "openai_chat": "{fake}/v1",
    "anthropic_messages": "{fake}",
    "gemini": "{fake}",
    "openai_responses": "{fake}/v1",
}


def recorded(client: str) -> list[tuple[str, int, dict[str, Any]]]:
    """Every recorded POST with a JSON body: (scenario, turn, exchange)."""
    found = []
    for fixture in sorted((CLIENTS / client).glob("*.json")):
        for i, exchange in enumerate(json.loads(fixture.read_text())["exchanges"]):
            if exchange["method"] == "POST" and isinstance(exchange.get("body"), dict):
                found.append((fixture.stem, i, exchange))
    return found


def exchanges(client: str, path: str) -> list[tuple[str, int, dict[str, Any]]]:
    return [(name, i, exchange["body"]) for name, i, exchange in recorded(client) if exchange["path"] == path]


def replay(
    gateway, protocol: str, path: str, body: dict[str, Any], query: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` to a gateway whose only provider ``up`` speaks ``protocol``; a Gemini path's model is an
    alias of ``up/m``, every other body names ``up/m``."""
    config: dict[str, Any] = {
        "providers": {"up": {"protocol": protocol, "base_url": BASES[protocol], "credentials": ["sk-1"]}}
    }
    if path.startswith("/v1beta/models/"):
        config["routing"] = {"aliases": {path.removeprefix("/v1beta/models/").partition(":")[0]: "up/m"}}
    else:
        body = {**body, "model": "up/m"}
    base = gateway(config)
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {PROXY_KEY}"}, timeout=30) as client:
        return client.post(path, json=body, params=query)


def sse_payloads(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]


def expected_function_names(body: dict[str, Any]) -> set[str]:
    """The names Codex's tools must reach a function-only upstream with (hosted tools excepted)."""
    tools = list(body.get("tools") or ())
    for item in body.get("input") or ():
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            tools += item["tools"]
    names: set[str] = set()
    for tool in tools:
        if tool["type"] == "namespace":
            names |= {flat_name(tool["name"], member["name"]) for member in tool["tools"]}
        elif tool["type"] in ("function", "custom"):
            names.add(tool["name"])
        elif tool["type"] == "tool_search" and tool.get("execution") == "client":
            names.add("tool_search")
    return names


@pytest.mark.parametrize("protocol", ["anthropic_messages", "gemini", "openai_chat", "openai_responses"])
@pytest.mark.parametrize(("name", "turn", "body"), exchanges("codex", "/v1/responses"))
def test_codex_turns_through_function_only_providers(gateway, fake, protocol, name, turn, body):
    answer = replay(gateway, protocol, "/v1/responses", body)
    assert answer.status_code == 200, answer.text
    [received] = fake.requests
    assert received.request is not None  # the upstream's own parser accepted the body
    upstream_tools = {t.name: t for t in received.request.tools}
    assert set(upstream_tools) == expected_function_names(body)
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", name) for name in upstream_tools)  # all three accept
    if protocol == "anthropic_messages":  # strictly alternating turns, opened by the user
        roles = [m["role"] for m in received.body["messages"]]
        assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:], strict=False))
    for tool in body.get("tools") or ():
        if tool["type"] == "custom":  # a freeform tool is a function of one string argument
            assert upstream_tools[tool["name"]].parameters["required"] == ["input"]
    final = sse_payloads(answer.text)[-1]
    assert final["type"] == "response.completed"
    openai.types.responses.Response.model_validate(final["response"])


@pytest.mark.parametrize("protocol", ["gemini", "openai_chat"])
@pytest.mark.parametrize(("name", "turn", "body"), exchanges("claude-code", "/v1/messages"))
def test_claude_code_turns_through_chat_and_gemini(gateway, fake, protocol, name, turn, body):
    answer = replay(gateway, protocol, "/v1/messages", body)
    forced = body.get("tool_choice", {}).get("name") == "web_search"
    if forced:  # the web-search sub-request forces Anthropic's server tool: refused, naming the field
        assert answer.status_code == 400 and "tool_choice" in answer.json()["error"]["message"]
        assert fake.requests == []
        return
    assert answer.status_code == 200, answer.text
    [received] = fake.requests
    assert received.request is not None
    client_tools = {t["name"] for t in body.get("tools") or () if t.get("type") in (None, "custom")}
    assert {t.name for t in received.request.tools} == client_tools
    events = sse_payloads(answer.text) if body.get("stream") else [answer.json()]
    if body.get("stream"):
        assert events[-1]["type"] == "message_stop"
    else:
        anthropic.types.Message.model_validate(events[0])


@pytest.mark.parametrize("protocol", ["anthropic_messages", "openai_chat", "openai_responses"])
@pytest.mark.parametrize(("name", "turn", "exchange"), recorded("gemini-cli"))
def test_gemini_cli_turns_through_other_providers(gateway, fake, protocol, name, turn, exchange):
    body = exchange["body"]
    answer = replay(gateway, protocol, exchange["path"], body, exchange["query"])
    assert answer.status_code == 200, answer.text
    [received] = fake.requests
    assert received.request is not None
    declared = {d["name"] for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()}
    assert {t.name for t in received.request.tools} == declared
    chunks = sse_payloads(answer.text) if exchange["query"].get("alt") == "sse" else [answer.json()]
    assert chunks[-1]["candidates"][0]["finishReason"]
    if any("googleSearch" in tool for tool in body.get("tools") or ()):  # offered hosted search: dropped, said so
        assert "googleSearch" in answer.headers["x-rotator-warnings"]
