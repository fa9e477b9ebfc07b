"""The Responses API with state, through the openai SDK: create, retrieve, delete, input items,
previous_response_id chains against every provider protocol, isolation, streaming failures, WebSocket mode."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY

PROVIDERS = {
    "openai_chat": "{fake}/v1",
    "openai_responses": "{fake}/v1",
    "anthropic_messages": "{fake}",
    "gemini": "{fake}",
}
TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    }
]


def config(protocol: str = "openai_chat", **responses) -> dict:
    return {
        "providers": {"up": {"protocol": protocol, "base_url": PROVIDERS[protocol], "credentials": ["sk-up-1111"]}},
        "auth": {"api_keys": [PROXY_KEY, "second-client-key"]},
        "responses": responses,
    }


@pytest.fixture
def client(gateway):
    def make(cfg=None, key=PROXY_KEY):
        return openai.OpenAI(base_url=gateway(cfg or config()) + "/v1", api_key=key, max_retries=0)

    return make


def test_create_retrieve_input_items_delete(client, fake):
    with client() as sdk:
        created = sdk.responses.create(model="up/m", input="What is a gateway?", instructions="Be brief.")
        assert created.id.startswith("resp_") and created.status == "completed"
        assert created.output_text == "Hello from the fake upstream."
        fetched = sdk.responses.retrieve(created.id)
        assert fetched.id == created.id and fetched.output_text == created.output_text
        items = sdk.responses.input_items.list(created.id)
        assert [i.type for i in items.data] == ["message"] and items.data[0].content[0].text == "What is a gateway?"
        deleted = sdk.responses.delete(created.id)
        assert deleted is None or getattr(deleted, "deleted", True)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve("resp_does_not_exist")


def test_input_items_pagination(client, fake):
    with client() as sdk:
        items = [{"role": "user", "content": f"message {i}"} for i in range(5)]
        created = sdk.responses.create(model="up/m", input=items)
        first = sdk.responses.input_items.list(created.id, limit=2, order="asc")
        assert [i.content[0].text for i in first.data] == ["message 0", "message 1"] and first.has_more
        rest = sdk.responses.input_items.list(created.id, limit=10, order="asc", after=first.last_id)
        assert [i.content[0].text for i in rest.data] == ["message 2", "message 3", "message 4"]
        assert not rest.has_more


@pytest.mark.parametrize("protocol", sorted(PROVIDERS))
def test_three_turn_chain_with_tool_calls_replays_history(client, fake, protocol):
    with client(config(protocol)) as sdk:
        fake.script(Reply(text="", tool_calls=[("lookup", {"word": "gateway"})]))
        first = sdk.responses.create(model="up/m", input="Define gateway.", instructions="Use tools.", tools=TOOLS)
        call = next(item for item in first.output if item.type == "function_call")
        assert json.loads(call.arguments) == {"word": "gateway"}
        fake.script(Reply(text="A gateway is a door."))
        second = sdk.responses.create(
            model="up/m",
            previous_response_id=first.id,
            tools=TOOLS,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "a door between networks"}],
        )
        assert second.output_text == "A gateway is a door."
        fake.script(Reply(text="You asked about gateways."))
        third = sdk.responses.create(model="up/m", previous_response_id=second.id, input="What did I ask?")
        assert third.output_text == "You asked about gateways."
    sent = fake.requests[-1].request
    texts = [p.text for m in sent.messages for p in m.parts if hasattr(p, "text") and not hasattr(p, "redacted")]
    assert "Define gateway." in texts and "A gateway is a door." in texts and "What did I ask?" in texts
    calls = [p for m in sent.messages for p in m.parts if type(p).__name__ == "ToolCall"]
    results = [p for m in sent.messages for p in m.parts if type(p).__name__ == "ToolResult"]
    assert [c.name for c in calls] == ["lookup"] and len(results) == 1
    assert all("Use tools." not in (m.text or "") for m in sent.messages if m.role in ("system", "developer"))


def test_store_false_cannot_be_retrieved_or_continued(client, fake):
    with client() as sdk:
        created = sdk.responses.create(model="up/m", input="secret", store=False)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.create(model="up/m", input="more", previous_response_id=created.id)


def test_responses_are_isolated_between_client_keys(client, fake, gateway):
    base = gateway(config())
    with (
        openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as owner,
        openai.OpenAI(base_url=base + "/v1", api_key="second-client-key", max_retries=0) as other,
    ):
        created = owner.responses.create(model="up/m", input="mine")
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.create(model="up/m", input="x", previous_response_id=created.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(created.id)
        assert owner.responses.retrieve(created.id).id == created.id


def test_shared_responses_are_visible_to_every_key(fake, gateway):
    base = gateway(config(shared=True))
    with (
        openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as owner,
        openai.OpenAI(base_url=base + "/v1", api_key="second-client-key", max_retries=0) as other,
    ):
        created = owner.responses.create(model="up/m", input="ours")
        assert other.responses.retrieve(created.id).id == created.id


def test_depth_limit_is_a_clear_error(fake, gateway):
    base = gateway(config(max_depth=2))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
        previous = None
        for turn in range(3):
            previous = sdk.responses.create(model="up/m", input=f"turn {turn}", previous_response_id=previous).id
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.responses.create(model="up/m", input="one too many", previous_response_id=previous)
        assert "max_depth" in caught.value.message


def test_stream_events_carry_sequence_numbers_and_are_stored(client, fake):
    with client() as sdk:
        with sdk.responses.stream(model="up/m", input="stream please") as stream:
            events = list(stream)
            final = stream.get_final_response()
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert events[0].type == "response.created" and events[-1].type == "response.completed"
        assert sdk.responses.retrieve(final.id).output_text == final.output_text == "Hello from the fake upstream."


def test_stream_failure_after_start_ends_failed_and_is_stored_failed(client, fake):
    with client() as sdk:
        fake.script(Reply(text="this will break halfway", error_after=3))
        stream = sdk.responses.create(model="up/m", input="go", stream=True)
        events = list(stream)
        assert events[-1].type == "response.failed"
        stored = sdk.responses.retrieve(events[-1].response.id)
        assert stored.status == "failed"


def test_websocket_mode_with_continuation_and_auth(client, fake, gateway):
    base = gateway(config())
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
        with sdk.responses.connect() as connection:
            connection.send({"type": "response.create", "model": "up/m", "input": "first", "store": False})
            events = _until_done(connection)
            assert events[0].type == "response.created" and events[-1].type == "response.completed"
            first_id = events[-1].response.id
            fake.script(Reply(text="continued"))
            connection.send(
                {"type": "response.create", "model": "up/m", "input": "second", "previous_response_id": first_id}
            )
            events = _until_done(connection)
            assert events[-1].response.output[0].content[0].text == "continued"
        sent = fake.requests[-1].request
        assert [m.text for m in sent.messages if m.role == "user"] == ["first", "second"]
    # Each WebSocket response is accounted as a stream (its frames counted) once it went out.
    deadline = time.monotonic() + 2
    while True:
        usage = httpx.get(base + "/rotator/usage", headers={"x-api-key": PROXY_KEY}).json()["totals"]
        if usage["requests"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert usage["streams"]["completed"] == 2 and usage["streams"]["chunks"] > 4
    with openai.OpenAI(base_url=base + "/v1", api_key="wrong-key", max_retries=0) as intruder:
        with pytest.raises(Exception):  # noqa: B017 - the handshake is refused; the SDK's error type varies
            with intruder.responses.connect(max_retries=0) as connection:
                connection.send({"type": "response.create", "model": "up/m", "input": "x"})
                connection.recv()


def test_websocket_disconnect_cancels_the_upstream(client, fake, gateway):
    base = gateway(config())
    fake.script(Reply(text="slow " * 50, chunk_delay=0.2))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
        with sdk.responses.connect() as connection:
            connection.send({"type": "response.create", "model": "up/m", "input": "long"})
            while connection.recv().type != "response.output_text.delta":
                pass
    deadline = time.monotonic() + 2
    while fake.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.open_streams == 0 and fake.closed_streams == 1


def _until_done(connection):
    events = []
    while True:
        event = connection.recv()
        events.append(event)
        if event.type in ("response.completed", "response.failed", "response.incomplete", "error"):
            return events
