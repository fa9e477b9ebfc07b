"""Field-cache rules through the gateway, driven by the openai SDK against FakeUpstream.

Each mode extracts and injects as configured, raw and unified; values are isolated between sessions and between
credentials; a stream's values are kept only once it completed.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY


@pytest.fixture
def chat(gateway):
    """A function that mounts one openai_chat provider with ``rules`` and returns an SDK client for it."""
    clients: list[openai.OpenAI] = []

    def make(rules: list[dict[str, Any]], credentials=("sk-fc-aaaa1111",), **provider: Any) -> openai.OpenAI:
        settings = {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": list(credentials)}
        base = gateway({"providers": {"up": {**settings, **provider, "field_cache": rules}}})
        client = openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def ask(client: openai.OpenAI, messages: list[dict[str, Any]] | str, session: str = "alice", **extra: Any) -> Any:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return client.chat.completions.create(
        model="up/m", messages=messages, extra_headers={"x-session-id": session}, **extra
    )


def test_last_unified_response_into_the_unified_request_per_session(chat, fake):
    client = chat(
        [
            {
                "name": "upstream_id",
                "source": "unified_response",
                "path": "upstream_id",
                "inject": {"target": "unified_request", "path": "prompt_cache_key"},
            }
        ]
    )
    ask(client, "one")
    assert "prompt_cache_key" not in fake.requests[-1].body
    ask(client, "two")
    first_id = fake.requests[-1].body["prompt_cache_key"]
    assert first_id.startswith("chatcmpl")
    ask(client, "three")
    assert fake.requests[-1].body["prompt_cache_key"] not in (first_id, None)  # last overwrites
    ask(client, "four", session="bob")
    assert "prompt_cache_key" not in fake.requests[-1].body  # another session sees nothing


def test_values_are_isolated_between_credentials(chat, fake):
    client = chat(
        [
            {
                "name": "served_id",
                "source": "response",
                "path": "id",
                "scope": ["provider", "credential"],
                "inject": {"path": "metadata.previous_id"},
            }
        ],
        credentials=("sk-fc-cred-1111", "sk-fc-cred-2222"),
        selection="sequential",
    )
    ask(client, "one")
    assert fake.requests[-1].key == "sk-fc-cred-1111"
    fake.script(Reply(status=429, retry_after=60), Reply(text="from the second key"))
    ask(client, "two")
    on_first, on_second = fake.requests[-2:]
    assert on_first.key == "sk-fc-cred-1111" and on_first.body["metadata"]["previous_id"].startswith("chatcmpl")
    assert on_second.key == "sk-fc-cred-2222" and "metadata" not in on_second.body


def test_all_appends_what_was_sent_and_injects_the_list(chat, fake):
    client = chat(
        [
            {
                "name": "asked",
                "source": "request",
                "path": "messages[-1].content",
                "mode": "all",
                "max_values": 2,
                "inject": {"path": "metadata.asked"},
            }
        ]
    )
    ask(client, "a")
    ask(client, "b")
    assert fake.requests[-1].body["metadata"] == {"asked": ["a"]}
    fake.script(Reply(status=400))
    with pytest.raises(openai.BadRequestError):
        ask(client, "rejected")  # a failed exchange stores nothing
    ask(client, "c")
    assert fake.requests[-1].body["metadata"] == {"asked": ["a", "b"]}
    ask(client, "d")
    assert fake.requests[-1].body["metadata"] == {"asked": ["b", "c"]}  # max_values keeps the newest


def test_last_user_turn_carries_a_field_into_the_next_user_turn(chat, fake):
    client = chat(
        [
            {
                "name": "speaker",
                "source": "request",
                "path": "name",
                "mode": "last_user_turn",
                "inject": {"path": "name", "when_missing_only": True},
            }
        ]
    )
    ask(client, [{"role": "user", "content": "hi", "name": "ada"}])
    ask(client, [{"role": "user", "content": "again"}])
    assert fake.requests[-1].body["messages"][-1]["name"] == "ada"
    ask(client, [{"role": "user", "content": "me now", "name": "grace"}])
    assert fake.requests[-1].body["messages"][-1]["name"] == "grace"  # the client's own value stays


def test_last_assistant_turn_replays_reasoning_the_client_dropped(chat, fake):
    """Providers that want their reasoning back on the previous assistant turn, for clients that drop it."""
    client = chat(
        [
            {
                "name": "reasoning_replay",
                "source": "response",
                "path": "choices[0].message.reasoning_content",
                "mode": "last_assistant_turn",
                "inject": {"path": "reasoning_content", "when_missing_only": True},
            }
        ]
    )
    fake.script(Reply(text="It is 4.", reasoning="2 and 2 make 4."))
    ask(client, "2+2?")
    ask(
        client,
        [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "It is 4."},
            {"role": "user", "content": "and 3+3?"},
        ],
    )
    assistant = fake.requests[-1].body["messages"][1]
    assert assistant == {"role": "assistant", "content": "It is 4.", "reasoning_content": "2 and 2 make 4."}
    ask(client, [{"role": "user", "content": "no assistant turn yet"}])
    assert all("reasoning_content" not in m for m in fake.requests[-1].body["messages"])


def test_per_tool_call_from_a_stream_only_once_it_completed(chat, fake):
    client = chat(
        [
            {
                "name": "tool_names",
                "source": "stream_event",
                "mode": "per_tool_call",
                "tool_container_path": "choices[0].delta.tool_calls[*]",
                "tool_call_id_path": "id",
                "path": "function.name",
                "inject": {"path": "x_tool", "tool_container_path": "messages[*].tool_calls[*]"},
            }
        ]
    )
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    def follow_up(call_id: str) -> dict[str, Any]:
        call = {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ask(
            client,
            [
                {"role": "user", "content": "go"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call_id, "content": "done"},
            ],
        )
        return fake.requests[-1].body["messages"][1]["tool_calls"][0]

    # Cut after the tool call went out, before the terminal: the client sees an error, the cache keeps nothing.
    fake.script(Reply(text="", tool_calls=[("lookup", {})], drop_after=2))
    cut_id = None
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="up/m", messages=[{"role": "user", "content": "go"}], tools=tools, stream=True
        ):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                cut_id = delta.id or cut_id
    assert cut_id is not None and "x_tool" not in follow_up(cut_id)

    fake.script(Reply(text="", tool_calls=[("lookup", {})]))
    with client.chat.completions.stream(
        model="up/m", messages=[{"role": "user", "content": "go"}], tools=tools, extra_headers={"x-session-id": "alice"}
    ) as stream:
        call = stream.get_final_completion().choices[0].message.tool_calls[0]
    assert follow_up(call.id)["x_tool"] == "lookup"


def test_conversation_scope_separates_conversations_of_one_session(chat, fake):
    client = chat(
        [
            {
                "name": "upstream_id",
                "source": "unified_response",
                "path": "upstream_id",
                "scope": ["provider", "conversation"],
                "inject": {"path": "metadata.previous_upstream"},
            }
        ]
    )
    session = {"x-session-id": "one-session"}
    client.responses.create(model="up/m", input="a", conversation="conv_a", store=False, extra_headers=session)
    client.responses.create(model="up/m", input="b", conversation="conv_a", store=False, extra_headers=session)
    assert fake.requests[-1].body["metadata"]["previous_upstream"].startswith("chatcmpl")
    client.responses.create(model="up/m", input="c", conversation="conv_b", store=False, extra_headers=session)
    assert "metadata" not in fake.requests[-1].body
