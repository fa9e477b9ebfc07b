"""Codex's own tools through providers that know only functions (Anthropic, Gemini, OpenAI Chat), driven with
the openai SDK: custom (freeform) tools and their calls, local_shell, namespaces, client-executed tool_search,
and the history items Codex replays."""

from __future__ import annotations

import json

import openai
import pytest

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY

PROVIDERS = {"openai_chat": "{fake}/v1", "anthropic_messages": "{fake}", "gemini": "{fake}"}
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files. This is a FREEFORM tool.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" LF'},
}
NAMESPACE = {
    "type": "additional_tools",
    "role": "developer",
    "tools": [
        {
            "type": "namespace",
            "name": "collaboration",
            "description": "Sub-agents.",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn_agent",
                    "description": "Spawn a sub-agent.",
                    "strict": False,
                    "parameters": {"type": "object", "properties": {"task": {"type": "string"}}},
                }
            ],
        },
        {"type": "namespace", "name": "functions", "description": "", "tools": [{**APPLY_PATCH, "name": "exec"}]},
    ],
}


def config(protocol: str) -> dict:
    return {"providers": {"up": {"protocol": protocol, "base_url": PROVIDERS[protocol], "credentials": ["sk-1"]}}}


@pytest.fixture
def sdk(gateway):
    def make(protocol: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=gateway(config(protocol)) + "/v1", api_key=PROXY_KEY, max_retries=0)

    return make


def upstream_tools(fake) -> dict[str, dict]:
    """The tools the upstream got, by name, as (name, the schema of their arguments)."""
    request = fake.requests[-1].request
    assert request is not None
    return {t.name: t.parameters for t in request.tools}


@pytest.mark.parametrize("protocol", sorted(PROVIDERS))
@pytest.mark.parametrize("stream", [False, True])
def test_custom_tool_is_a_one_string_function_and_its_call_a_custom_tool_call(sdk, fake, protocol, stream):
    fake.script(Reply(text="", tool_calls=[("apply_patch", {"input": PATCH})]))
    with sdk(protocol) as client:
        if stream:
            with client.responses.stream(model="up/m", input="add hello.txt", tools=[APPLY_PATCH]) as events:
                kinds = [e.type for e in events]
                response = events.get_final_response()
            assert "response.custom_tool_call_input.delta" in kinds
            assert "response.function_call_arguments.delta" not in kinds
        else:
            response = client.responses.create(model="up/m", input="add hello.txt", tools=[APPLY_PATCH])
    schema = upstream_tools(fake)["apply_patch"]
    assert schema["required"] == ["input"] and schema["properties"]["input"]["type"] == "string"
    assert "lark grammar" in schema["properties"]["input"]["description"]
    [item] = response.output
    assert item.type == "custom_tool_call" and item.name == "apply_patch" and item.input == PATCH
    assert item.call_id and item.id.startswith("ctc_")


@pytest.mark.parametrize("protocol", sorted(PROVIDERS))
def test_custom_tool_history_is_a_function_call_and_result(sdk, fake, protocol):
    history = [
        {"type": "message", "role": "user", "content": "add hello.txt"},
        {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": "call_1", "name": "apply_patch",
         "input": PATCH},
        {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_1",
         "output": [{"type": "input_text", "text": "Done!"}]},
    ]  # fmt: skip
    with sdk(protocol) as client:
        response = client.responses.create(model="up/m", input=history, tools=[APPLY_PATCH])
    assert response.output_text == "Hello from the fake upstream."
    received = fake.requests[-1].request
    calls = [p for m in received.messages for p in m.parts if type(p).__name__ == "ToolCall"]
    results = [p for m in received.messages for p in m.parts if type(p).__name__ == "ToolResult"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("apply_patch", {"input": PATCH})]
    assert [r.content[0].text for r in results] == ["Done!"]


@pytest.mark.parametrize("protocol", sorted(PROVIDERS))
def test_namespaces_flatten_and_calls_come_back_namespaced(sdk, fake, protocol):
    fake.script(Reply(text="", tool_calls=[("collaboration__spawn_agent", {"task": "lint"})]))
    with sdk(protocol) as client:
        response = client.responses.create(model="up/m", input=[NAMESPACE, {"role": "user", "content": "go"}])
    tools = upstream_tools(fake)
    assert set(tools) == {"collaboration__spawn_agent", "exec"}
    assert tools["exec"]["required"] == ["input"]
    [item] = response.output
    assert item.type == "function_call" and item.name == "spawn_agent"
    assert item.namespace == "collaboration" and json.loads(item.arguments) == {"task": "lint"}


@pytest.mark.parametrize("protocol", sorted(PROVIDERS))
def test_local_shell_and_tool_search_are_functions(sdk, fake, protocol):
    tools = [
        {"type": "local_shell"},
        {"type": "tool_search", "execution": "client", "description": "Find deferred tools.",
         "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
        {"type": "web_search"},
    ]  # fmt: skip
    history = [
        {"type": "message", "role": "user", "content": "list files"},
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_1", "status": "completed",
         "action": {"type": "exec", "command": ["ls"], "env": {}}},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
    ]  # fmt: skip
    fake.script(Reply(text="", tool_calls=[("local_shell", {"command": ["cat", "a.txt"]})]))
    with sdk(protocol) as client:
        raw = client.responses.with_raw_response.create(model="up/m", input=history, tools=tools)
    response = raw.parse()
    assert set(upstream_tools(fake)) == {"local_shell", "tool_search"}
    [item] = response.output
    assert item.type == "local_shell_call" and item.action.command == ["cat", "a.txt"]
    warnings = json.loads(raw.headers["x-rotator-warnings"])
    assert "tools[2]" in {w["field"] for w in warnings}
    assert any("'web_search_call'" in w["message"] for w in warnings)  # the hosted call's history is dropped
    calls = [p for m in fake.requests[-1].request.messages for p in m.parts if type(p).__name__ == "ToolCall"]
    assert [(c.name, json.loads(c.arguments)["command"]) for c in calls] == [("local_shell", ["ls"])]

    fake.script(Reply(text="", tool_calls=[("tool_search", {"query": "calendar"})]))
    with sdk(protocol) as client:
        response = client.responses.create(model="up/m", input="find a calendar tool", tools=tools)
    [item] = response.output
    assert item.type == "tool_search_call" and item.arguments == {"query": "calendar"}


def test_item_references_resolve_from_the_store_or_are_a_400(sdk, fake):
    with sdk("anthropic_messages") as client:
        first = client.responses.create(model="up/m", input="remember the word 'gateway'")
        message_id = first.output[0].id
        fake.requests.clear()
        client.responses.create(
            model="up/m",
            previous_response_id=first.id,
            input=[{"type": "item_reference", "id": message_id}, {"role": "user", "content": "say it again"}],
        )
        text = "".join(m.text for m in fake.requests[-1].request.messages)
        assert text.count("Hello from the fake upstream.") == 2  # the lineage's answer and the referenced copy
        with pytest.raises(openai.BadRequestError) as raised:
            client.responses.create(model="up/m", input=[{"type": "item_reference", "id": "msg_unknown"}])
    assert raised.value.body["param"] == "input[0].id"
