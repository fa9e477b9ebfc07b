"""The Anthropic Messages protocol: golden fixtures in, unified types out, and back, checked by the anthropic SDK."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pydantic
import pytest
from anthropic.types import (
    ContentBlockParam,
    Message as SDKMessage,
    MessageParam,
    MessageTokensCount,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolUnionParam,
    tool_result_block_param,
)
from anthropic.types.message_create_params import MessageCreateParamsStreaming
from anthropic.types.shared import ErrorResponse

from asgi_rotator.errors import GatewayError, UpstreamError
from asgi_rotator.protocols.anthropic_messages import AnthropicMessagesProtocol
from asgi_rotator.protocols.base import Frame
from asgi_rotator.protocols.unified import (
    Media,
    Message,
    Reasoning,
    ReasoningConfig,
    ResponseFormat,
    StopReason,
    StreamEvent,
    Text,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    UnifiedRequest,
    UnifiedResponse,
    Usage,
)
from asgi_rotator.sse import SSEDecoder, encode_frame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "anthropic_messages"
ANTHROPIC = AnthropicMessagesProtocol()
_PARAM_CHECKS: dict[str, pydantic.TypeAdapter[Any]] = {
    "message": pydantic.TypeAdapter(MessageParam),
    "block": pydantic.TypeAdapter(ContentBlockParam),
    "result": pydantic.TypeAdapter(tool_result_block_param.Content),
    "system": pydantic.TypeAdapter(TextBlockParam),
    "tool": pydantic.TypeAdapter(ToolUnionParam),
    "body": pydantic.TypeAdapter(MessageCreateParamsStreaming),
}
STREAM_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def check_params(body: dict[str, Any]) -> None:
    """Validate a built body against the SDK's request types (its Iterable fields are lazy, so walk them)."""
    _PARAM_CHECKS["body"].validate_python({**body, "stream": True})
    for message in body["messages"]:
        _PARAM_CHECKS["message"].validate_python(message)
        for block in message["content"] if isinstance(message["content"], list) else ():
            _PARAM_CHECKS["block"].validate_python(block)
            if block["type"] == "tool_result" and isinstance(block.get("content"), list):
                for inner in block["content"]:
                    _PARAM_CHECKS["result"].validate_python(inner)
    for block in body.get("system") or ():
        _PARAM_CHECKS["system"].validate_python(block)
    for tool in body.get("tools") or ():
        _PARAM_CHECKS["tool"].validate_python(tool)


def sse_events(raw: bytes, chunk_size: int = 11) -> Iterator[tuple[str | None, str]]:
    """SSE events as the project's decoder yields them from small network-sized pieces."""
    decoder = SSEDecoder()
    for i in range(0, len(raw), chunk_size):
        yield from decoder.feed(raw[i : i + chunk_size])
    yield from decoder.flush()


def parse_stream(name: str) -> list[StreamEvent]:
    parser = ANTHROPIC.stream_parser()
    events: list[StreamEvent] = []
    for event, data in sse_events((FIXTURES / name).read_bytes()):
        events += parser.feed(event, data)
    return events + parser.finish()


def format_stream(events: list[StreamEvent], request: UnifiedRequest | None = None) -> list[Frame]:
    formatter = ANTHROPIC.stream_formatter(request or client_request(), "msg_gateway01")
    return [frame for event in events for frame in formatter.feed(event)]


def sse_bytes(frames: list[Frame]) -> bytes:
    heartbeat = ANTHROPIC.stream_formatter(client_request(), "msg_x").heartbeat
    return heartbeat + b"".join(encode_frame(frame) + heartbeat for frame in frames)


def sdk_stream(sse: bytes) -> anthropic.types.Message:
    """What ``client.messages.stream(...).get_final_message()`` makes of the bytes."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    client = anthropic.Anthropic(
        api_key="sk-test", http_client=httpx2.Client(transport=httpx2.MockTransport(handler)), max_retries=0
    )
    with client.messages.stream(
        model="gateway/claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def client_request(**fields: Any) -> UnifiedRequest:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]}
    return ANTHROPIC.parse_request({**body, **fields})


def foreign(source: str, messages: list[Message], **fields: Any) -> UnifiedRequest:
    """A unified request as another protocol's parser would have made it."""
    return UnifiedRequest(model="gw-model", messages=messages, source_protocol=source, **fields)


# -- protocol identity ---------------------------------------------------------------------------------------


def test_protocol_identity() -> None:
    assert ANTHROPIC.name == "anthropic_messages"
    assert ANTHROPIC.aliases == ("anthropic", "messages", "claude_messages")
    assert (ANTHROPIC.family, ANTHROPIC.default_auth, ANTHROPIC.id_prefix) == ("anthropic", "x-api-key", "msg_")
    heartbeat = ANTHROPIC.stream_formatter(client_request(), "msg_1").heartbeat
    assert heartbeat == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert list(sse_events(heartbeat)) == [("ping", '{"type": "ping"}')]


# -- parse client requests -----------------------------------------------------------------------------------


def test_parse_full_request() -> None:
    body = load("request_full.json")
    check_params(body)  # the fixture itself is a valid SDK request
    request = ANTHROPIC.parse_request(body)
    assert (request.model, request.stream, request.max_tokens) == ("claude-sonnet-4-5-20250929", True, 16000)
    assert request.source_protocol == "anthropic_messages" and request.raw is body
    system, user, assistant, results, tail = request.messages
    assert system.role == "system" and [p.text for p in system.parts if isinstance(p, Text)] == [
        "You are Claude Code, Anthropic's official CLI for Claude.",
        "Project rules: keep answers short.",
    ]
    assert isinstance(system.parts[1], Text) and system.parts[1].extra == {"cache_control": {"type": "ephemeral"}}
    assert user.role == "user" and user.text == "What is in this image and these documents?"
    _, png, url_image, pdf, pdf_url, notes = user.parts
    assert png == Media("image", media_type="image/png", data="iVBORw0KGgpmYWtl")
    assert url_image == Media("image", url="https://example.com/cat.jpg")
    assert isinstance(pdf, Media) and (pdf.kind, pdf.media_type, pdf.data, pdf.filename) == (
        "document",
        "application/pdf",
        "JVBERi0xLjQKZmFrZQ==",
        "report.pdf",
    )
    assert pdf.extra == {"context": "Quarterly report", "citations": {"enabled": True}}
    assert pdf_url == Media("document", media_type="application/pdf", url="https://example.com/paper.pdf")
    assert isinstance(notes, Media) and notes.media_type == "text/plain" and notes.data is not None
    assert base64.b64decode(notes.data).decode() == "Plain notes: ünïcode ok."
    assert notes.extra == {"cache_control": {"type": "ephemeral", "ttl": "1h"}}

    thinking, redacted, text, weather, clock = assistant.parts
    assert assistant.role == "assistant"
    assert thinking == Reasoning(
        "The user wants the weather too; I should call the tool.",
        signature="EqQBCkYIBxgCKkCnb3Vz5ZmFrZXNpZ25hdHVyZQ==",
        signature_family="anthropic",
    )
    assert redacted == Reasoning(redacted="EmwKAhgBEgy3va3pzi8rZWRhY3RlZA==", signature_family="anthropic")
    assert text == Text("Let me check the weather first.")
    assert isinstance(weather, ToolCall) and weather.id == "toolu_01A09q90qw90lq917835lq9"
    assert (weather.name, json.loads(weather.arguments)) == ("get_weather", {"city": "Paris", "unit": "celsius"})
    assert isinstance(clock, ToolCall) and clock.arguments == "{}"

    # The user turn splits into the unified tool turn and the user text that followed the results.
    assert results.role == "tool" and tail.role == "user"
    ok, failed = results.parts
    assert ok == ToolResult("toolu_01A09q90qw90lq917835lq9", [Text("18C, sunny")])
    assert isinstance(failed, ToolResult) and failed.is_error
    assert failed.content == [
        Text("clock service unavailable"),
        Media("image", media_type="image/jpeg", data="/9j/4AAQSkZJRmZha2U="),
    ]
    assert tail.parts == [Text("Thanks. Summarize everything.", extra={"cache_control": {"type": "ephemeral"}})]

    # The web_search server tool has no unified form (it is replayed from raw on same-protocol paths).
    weather_tool, time_tool = request.tools
    assert weather_tool.name == "get_weather" and weather_tool.parameters is not None
    assert weather_tool.parameters["required"] == ["city"] and weather_tool.extra is None
    assert time_tool.strict is True and time_tool.extra == {"cache_control": {"type": "ephemeral"}}
    assert request.tool_choice == ToolChoice("auto") and request.parallel_tool_calls is False
    assert request.reasoning == ReasoningConfig(budget_tokens=10000, enabled=True)
    assert request.stop == ["\n\nHuman:"]
    assert (request.temperature, request.top_p, request.top_k) == (1, 0.99, 40)
    assert request.user == "user_2f1c9a0b7e5d4c3a" and request.metadata == {"user_id": "user_2f1c9a0b7e5d4c3a"}


def test_parse_string_forms_and_system_role_messages() -> None:
    request = ANTHROPIC.parse_request(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 50,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi!"},
                {"role": "system", "content": "Now answer in French."},
                {"role": "user", "content": [{"type": "text", "text": "Bye"}]},
            ],
        },
        stream=True,
    )
    roles = [(m.role, m.text) for m in request.messages]
    assert roles == [
        ("system", "Be brief."),
        ("user", "Hello"),
        ("assistant", "Hi!"),
        ("system", "Now answer in French."),
        ("user", "Bye"),
    ]
    assert request.stream and request.reasoning is None and request.tool_choice is None


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, ToolChoice("auto"), None),
        ({"type": "any", "disable_parallel_tool_use": False}, ToolChoice("required"), True),
        (
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            ToolChoice("tool", "get_weather"),
            False,
        ),
        ({"type": "none"}, ToolChoice("none"), None),
    ],
)
def test_parse_tool_choice(choice: dict[str, Any], expected: ToolChoice, parallel: bool | None) -> None:
    request = client_request(tool_choice=choice)
    assert (request.tool_choice, request.parallel_tool_calls) == (expected, parallel)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"thinking": {"type": "disabled"}}, ReasoningConfig(enabled=False)),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
            ReasoningConfig(effort="low", enabled=True),
        ),
        (
            {"thinking": {"type": "adaptive", "display": "omitted"}},
            ReasoningConfig(enabled=True, include_thoughts=False),
        ),
        ({"output_config": {"effort": "max"}}, ReasoningConfig(effort="high")),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "summarized"}},
            ReasoningConfig(budget_tokens=2048, enabled=True, include_thoughts=True),
        ),
    ],
)
def test_parse_thinking_config(fields: dict[str, Any], expected: ReasoningConfig) -> None:
    assert client_request(**fields).reasoning == expected


def test_parse_structured_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    request = client_request(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert request.response_format == ResponseFormat("json_schema", schema=schema, strict=True)
    legacy = client_request(output_format={"type": "json_schema", "schema": schema})
    assert legacy.response_format == ResponseFormat("json_schema", schema=schema, strict=True)


def test_parse_count_tokens_request() -> None:
    request = ANTHROPIC.parse_request(load("count_tokens_request.json"), operation="count_tokens")
    assert request.operation == "count_tokens" and request.max_tokens is None and not request.stream
    assert request.messages[0] == Message("system", [Text("You are a scientist.")])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": []}, "max_tokens"),
        ({"model": "m", "max_tokens": "10", "messages": []}, "max_tokens"),
        ({"max_tokens": 10, "messages": []}, "model"),
        ({"model": "m", "max_tokens": 10}, "messages"),
        ({"model": "m", "max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "tool_use"}]}]},
            "messages[0].content[0]",
        ),
        (
            {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}],
            },
            "messages[0].content[0].source.media_type",
        ),
        ({"model": "m", "max_tokens": 10, "messages": [], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"model": "m", "max_tokens": 10, "messages": [], "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"model": "m", "max_tokens": 10, "messages": [], "thinking": {"type": "on"}}, "thinking.type"),
        ({"model": "m", "max_tokens": 10, "messages": [], "stop_sequences": [1]}, "stop_sequences[0]"),
        ({"model": "m", "max_tokens": 10, "messages": [], "metadata": {"user_id": 5}}, "metadata.user_id"),
    ],
)
def test_parse_rejects_bad_input(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        ANTHROPIC.parse_request(body)
    assert caught.value.kind == "invalid_request" and caught.value.status == 400
    assert caught.value.param == param and param in caught.value.message


# -- build upstream requests ---------------------------------------------------------------------------------


def test_build_same_protocol_round_trip() -> None:
    """An Anthropic client to an Anthropic upstream: the body goes out as the client sent it."""
    body = load("request_full.json")
    native = ANTHROPIC.build_request(ANTHROPIC.parse_request(body), "claude-sonnet-4-5-20250929")
    assert (native.path, native.method, native.stream) == ("/v1/messages", "POST", True)
    assert native.headers == {"anthropic-version": "2023-06-01"}
    check_params(native.body)
    expected = json.loads(json.dumps(body))
    # Equivalent forms the builder normalizes: the user text after the results stays in the same turn.
    assert native.body["messages"] == expected["messages"]
    assert native.body["system"] == expected["system"]
    assert native.body["tools"] == expected["tools"]  # server tool replayed in place, cache_control kept
    assert native.body == expected


def test_build_from_openai_chat_shape() -> None:
    """System/developer anywhere, tool messages, split assistant turns and foreign reasoning."""
    request = foreign(
        "openai_chat",
        [
            Message("system", [Text("You are helpful.", extra={"cache_control": {"type": "ephemeral"}})]),
            Message("user", [Text("Weather in Paris?"), Media("image", media_type="image/png", data="iVBORw0K")]),
            Message("assistant", [Reasoning("thinking in o-series")]),
            Message("assistant", [Text(""), ToolCall("call_abc123", "get_weather", '{"city":"Paris"}')]),
            Message("tool", [ToolResult("call_abc123", [Text("18C")])]),
            Message("developer", [Text("Answer in one line.")]),
            Message("user", [Text("And tomorrow?")]),
        ],
        tools=[
            ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
        ],
        parallel_tool_calls=False,
        temperature=1.4,
        top_p=0.9,
        seed=7,
        stop=["END"],
        user="user-42",
        response_format=ResponseFormat("json_schema", schema={"type": "object"}, name="out", strict=True),
        raw={"messages": [], "n": 1, "logprobs": True},
    )
    native = ANTHROPIC.build_request(request, "claude-sonnet-4-5")
    body = native.body
    check_params(body)
    assert native.path == "/v1/messages" and not native.stream and "stream" not in body
    assert body["model"] == "claude-sonnet-4-5" and body["max_tokens"] == 4096
    # extra (cache_control) is replayed only on same-protocol paths; foreign unknown keys never pass.
    assert body["system"] == [
        {"type": "text", "text": "You are helpful."},
        {"type": "text", "text": "Answer in one line."},
    ]
    assert "n" not in body and "logprobs" not in body
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
            ],
        },
        # The unsigned foreign reasoning and the empty text are gone; the two assistant turns merged.
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_abc123", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        # The tool message and the next user turn merged, the result first.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_abc123", "content": "18C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["temperature"] == 1.0 and "top_p" not in body and "seed" not in body
    assert body["stop_sequences"] == ["END"] and body["metadata"] == {"user_id": "user-42"}
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    warned = {(w.field, w.target_protocol, w.source_protocol) for w in request.warnings}
    assert warned == {
        ("temperature", "anthropic_messages", "openai_chat"),
        ("top_p", "anthropic_messages", "openai_chat"),
        ("seed", "anthropic_messages", "openai_chat"),
    }


def test_build_from_gemini_shape() -> None:
    """Gemini signatures never cross; results carry media and errors; unsafe ids are made valid consistently."""
    pdf = Media("document", media_type="application/pdf", url="https://example.com/a.pdf", filename="a.pdf")
    notes = Media("document", media_type="text/plain", data=base64.b64encode(b"some notes").decode())
    request = foreign(
        "gemini",
        [
            Message("system", [Text("Be exact.")]),
            Message("user", [Text("Read these"), pdf, notes]),
            Message(
                "assistant",
                [
                    Reasoning("gemini thought", signature="Z2VtaW5pLXNpZw==", signature_family="gemini"),
                    Text("Calling.", signature="dGV4dC1zaWc=", signature_family="gemini"),
                    ToolCall("functions.lookup:0", "lookup", '{"q": 1}', signature="c2ln", signature_family="gemini"),
                ],
            ),
            Message(
                "tool",
                [
                    ToolResult(
                        "functions.lookup:0",
                        [Text("not found"), Media("image", media_type="image/webp", data="UklGRg==")],
                        name="lookup",
                        is_error=True,
                    )
                ],
            ),
        ],
        top_k=20,
        max_tokens=9000,
        reasoning=ReasoningConfig(budget_tokens=4096, include_thoughts=True, enabled=True),
        stream=True,
    )
    native = ANTHROPIC.build_request(request, "claude-opus-4-1")
    body = native.body
    check_params(body)
    assert native.stream and body["stream"] is True
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096} and body["max_tokens"] == 9000
    assert "top_k" not in body  # thinking forbids top_k
    assert body["messages"][0]["content"][1:] == [
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}, "title": "a.pdf"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "some notes"}},
    ]
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "functions_lookup_0", "name": "lookup", "input": {"q": 1}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "functions_lookup_0",
                "content": [
                    {"type": "text", "text": "not found"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="}},
                ],
                "is_error": True,
            }
        ],
    }
    assert "Z2VtaW5pLXNpZw==" not in json.dumps(body) and "c2ln" not in json.dumps(body)
    assert [w.field for w in request.warnings] == ["top_k"]


def test_build_from_responses_shape_keeps_reinjected_anthropic_state() -> None:
    """OpenAI encrypted reasoning is dropped; Anthropic blocks the gateway re-injected go back verbatim."""
    request = foreign(
        "openai_responses",
        [
            Message("user", [Text("Plan a trip")]),
            Message(
                "assistant",
                [
                    Reasoning("openai summary", redacted="gAAAAencrypted", signature_family="openai", item_id="rs_1"),
                    Reasoning("anthropic thought", signature="YW50aHJvcGljLXNpZw==", signature_family="anthropic"),
                    Reasoning(redacted="cmVkYWN0ZWQ=", signature_family="anthropic"),
                    ToolCall("fc_1", "search", '{"q": "flights"}'),
                ],
            ),
            Message("tool", [ToolResult("fc_1", [Text("3 flights")])]),
        ],
        tools=[
            ToolDefinition("search", parameters={"type": "object"}, strict=True),
            ToolDefinition("book", parameters={"type": "object"}),
            ToolDefinition("cancel"),
        ],
        tool_choice=ToolChoice("auto", allowed=["search", "book"]),
        reasoning=ReasoningConfig(effort="high", summary="auto"),
        previous_response_id="resp_prev",
    )
    body = ANTHROPIC.build_request(request, "claude-sonnet-4-5").body
    check_params(body)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "anthropic thought", "signature": "YW50aHJvcGljLXNpZw=="},
        {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
        {"type": "tool_use", "id": "fc_1", "name": "search", "input": {"q": "flights"}},
    ]
    assert "gAAAAencrypted" not in json.dumps(body)
    # Only the allowed tools are offered; strict survives.
    assert [t["name"] for t in body["tools"]] == ["search", "book"] and body["tools"][0]["strict"] is True
    assert body["tool_choice"] == {"type": "auto"}
    # No max_tokens from the client: the default, raised above the thinking budget.
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert body["max_tokens"] > 24576


def test_build_puts_tool_results_first_in_their_turn() -> None:
    request = foreign(
        "gemini",
        [
            Message("user", [Text("go")]),
            Message("assistant", [ToolCall("c1", "f")]),
            Message("user", [Text("also this")]),
            Message("tool", [ToolResult("c1", [])]),
        ],
    )
    body = ANTHROPIC.build_request(request, "claude").body
    check_params(body)
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "c1"}, {"type": "text", "text": "also this"}],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("required"), {"type": "any"}),
        (ToolChoice("required", allowed=["b"]), {"type": "tool", "name": "b"}),
        (ToolChoice("tool", name="a"), {"type": "tool", "name": "a"}),
        (ToolChoice("none"), {"type": "none"}),
        (ToolChoice("auto"), {"type": "auto"}),
    ],
)
def test_build_tool_choice(choice: ToolChoice, expected: dict[str, Any]) -> None:
    request = foreign(
        "openai_chat",
        [Message("user", [Text("go")])],
        tools=[ToolDefinition("a"), ToolDefinition("b")],
        tool_choice=choice,
    )
    body = ANTHROPIC.build_request(request, "claude").body
    check_params(body)
    assert body["tool_choice"] == expected


def test_build_thinking_limits() -> None:
    effort = foreign("openai_chat", [Message("user", [Text("x")])], reasoning=ReasoningConfig(effort="low"))
    body = ANTHROPIC.build_request(effort, "claude").body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["max_tokens"] > 2048

    small = foreign(
        "openai_chat", [Message("user", [Text("x")])], max_tokens=3000, reasoning=ReasoningConfig(effort="high")
    )
    body = ANTHROPIC.build_request(small, "claude").body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2999} and body["max_tokens"] == 3000

    tiny = foreign("openai_chat", [Message("user", [Text("x")])], max_tokens=500, reasoning=ReasoningConfig("low"))
    body = ANTHROPIC.build_request(tiny, "claude").body
    assert "thinking" not in body and body["max_tokens"] == 500
    assert [w.field for w in tiny.warnings] == ["reasoning"]

    forced = foreign(
        "openai_chat",
        [Message("user", [Text("x")])],
        tools=[ToolDefinition("a")],
        tool_choice=ToolChoice("tool", name="a"),
        temperature=0.2,
        reasoning=ReasoningConfig(effort="medium"),
    )
    body = ANTHROPIC.build_request(forced, "claude").body
    assert "thinking" not in body and body["temperature"] == 0.2
    assert [w.field for w in forced.warnings] == ["reasoning"]

    hot = foreign("gemini", [Message("user", [Text("x")])], temperature=0.3, reasoning=ReasoningConfig(enabled=True))
    body = ANTHROPIC.build_request(hot, "claude").body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192} and "temperature" not in body
    assert [w.field for w in hot.warnings] == ["temperature"]

    off = foreign(
        "openai_chat", [Message("user", [Text("x")])], reasoning=ReasoningConfig(effort="none", enabled=False)
    )
    body = ANTHROPIC.build_request(off, "claude").body
    assert body["thinking"] == {"type": "disabled"} and body["max_tokens"] == 4096


def test_build_lossy_and_impossible_conversions() -> None:
    json_mode = foreign("openai_chat", [Message("user", [Text("x")])], response_format=ResponseFormat("json_object"))
    body = ANTHROPIC.build_request(json_mode, "claude").body
    assert "output_config" not in body and [w.field for w in json_mode.warnings] == ["response_format"]

    generated = foreign(
        "gemini",
        [Message("user", [Text("draw")]), Message("assistant", [Media("image", media_type="image/png", data="AAAA")])],
    )
    body = ANTHROPIC.build_request(generated, "claude").body
    assert body["messages"] == [{"role": "user", "content": "draw"}]
    assert [w.code for w in generated.warnings] == ["dropped_field"]

    impossible = [
        Message("user", [Media("audio", media_type="audio/wav", data="UklGRg==")]),
        Message("user", [Media("file", media_type="application/vnd.ms-excel", data="AAAA")]),
        Message("user", [Media("image", data="AAAA")]),
        Message("system", [Media("image", url="https://example.com/a.png")]),
        Message("assistant", [ToolCall("c1", "f", "not json")]),
        Message("assistant", [ToolCall("c1", "f", "[1, 2]")]),
    ]
    for message in impossible:
        with pytest.raises(GatewayError) as caught:
            ANTHROPIC.build_request(foreign("openai_chat", [message]), "claude")
        assert caught.value.kind == "invalid_request" and caught.value.status == 400


def test_build_count_tokens() -> None:
    request = ANTHROPIC.parse_request(load("count_tokens_request.json"), operation="count_tokens")
    native = ANTHROPIC.build_count_tokens(request, "claude-sonnet-4-5")
    assert native is not None
    assert (native.path, native.stream, native.headers) == (
        "/v1/messages/count_tokens",
        False,
        {"anthropic-version": "2023-06-01"},
    )
    system = [{"type": "text", "text": "You are a scientist."}]  # system always goes out as blocks
    assert native.body == {**load("count_tokens_request.json"), "model": "claude-sonnet-4-5", "system": system}
    streamed = foreign("openai_chat", [Message("user", [Text("x")])], stream=True, max_tokens=10, temperature=0.5)
    native = ANTHROPIC.build_count_tokens(streamed, "claude")
    assert native is not None and native.body == {"model": "claude", "messages": [{"role": "user", "content": "x"}]}


# -- upstream answers ----------------------------------------------------------------------------------------


def test_parse_response() -> None:
    body = load("response_tool_use.json")
    SDKMessage.model_validate(body)
    response = ANTHROPIC.parse_response(body)
    assert response.upstream_id == "msg_01XFDUDYJgAACzvnptvVoYEL" and response.id == ""
    assert response.model == "claude-sonnet-4-5-20250929"
    thinking, redacted, text, call = response.parts  # server_tool_use has no unified form
    assert thinking == Reasoning(
        "I need the weather for Paris.", signature="EqQBCkYIBxgCKkBzaWctcmVzcG9uc2U=", signature_family="anthropic"
    )
    assert redacted == Reasoning(redacted="EmwKAhgBEgyRZWRhY3RlZC1yZXNw", signature_family="anthropic")
    assert text == Text("I'll look that up.")
    assert call == ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"city":"Paris"}')
    assert (response.stop_reason, response.native_stop_reason) == ("tool_use", "tool_use")
    # input_tokens is already uncached: nothing is subtracted.
    assert response.usage == Usage(input_tokens=472, output_tokens=158, cache_read_tokens=2048, cache_write_tokens=1200)
    assert response.usage.prompt_tokens == 472 + 2048 + 1200


def test_parse_response_stop_sequence_and_invalid() -> None:
    response = ANTHROPIC.parse_response(load("response_stop_sequence.json"))
    assert (response.stop_reason, response.native_stop_reason, response.text) == (
        "stop",
        "stop_sequence",
        "Hi! My name is Claude.",
    )
    for body in ({"type": "error"}, {"type": "message", "content": "x"}, {"content": []}):
        with pytest.raises(UpstreamError) as caught:
            ANTHROPIC.parse_response(body)
        assert caught.value.kind == "upstream_invalid" and caught.value.status == 502


@pytest.mark.parametrize(
    ("native", "canonical"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "max_tokens"),
        ("tool_use", "tool_use"),
        ("refusal", "content_filter"),
        ("pause_turn", "incomplete"),
        ("model_context_window_exceeded", "max_tokens"),
        ("something_new", "unknown"),
    ],
)
def test_stop_reason_from_anthropic(native: str, canonical: StopReason) -> None:
    body = {**load("response_stop_sequence.json"), "stop_reason": native}
    assert ANTHROPIC.parse_response(body).stop_reason == canonical


@pytest.mark.parametrize(
    ("canonical", "native", "expected"),
    [
        ("stop", None, "end_turn"),
        ("stop", "STOP", "end_turn"),
        ("stop", "stop_sequence", "stop_sequence"),
        ("tool_use", "tool_calls", "tool_use"),
        ("max_tokens", "length", "max_tokens"),
        ("content_filter", "SAFETY", "refusal"),
        ("incomplete", None, "max_tokens"),
        ("incomplete", "pause_turn", "pause_turn"),
        ("error", "OTHER", "end_turn"),
        ("unknown", None, "end_turn"),
    ],
)
def test_stop_reason_to_anthropic(canonical: StopReason, native: str | None, expected: str) -> None:
    response = UnifiedResponse("msg_1", "x", [Text("hi")], canonical, native)
    body = ANTHROPIC.format_response(response, client_request())
    SDKMessage.model_validate(body)
    assert body["stop_reason"] == expected


def test_format_response() -> None:
    response = UnifiedResponse(
        id="msg_gateway01",
        model="gpt-4.1",
        parts=[
            Reasoning("foreign thought", signature="Z2VtaW5p", signature_family="gemini"),
            Reasoning("", redacted="gAAAA", signature_family="openai"),
            Reasoning("own thought", signature="b3du", signature_family="anthropic"),
            Reasoning(redacted="cmVk", signature_family="anthropic"),
            Text("Here you go."),
            Media("image", media_type="image/png", data="AAAA"),
            ToolCall("call_1", "lookup", '{"q": "x"}'),
        ],
        stop_reason="stop",
        usage=Usage(input_tokens=10, output_tokens=30, cache_read_tokens=4, cache_write_tokens=2, reasoning_tokens=12),
    )
    body = ANTHROPIC.format_response(response, client_request(model="claude-alias"))
    message = SDKMessage.model_validate(body)
    assert message.id == "msg_gateway01" and message.model == "claude-alias"
    assert body["content"] == [
        {"type": "thinking", "thinking": "foreign thought", "signature": ""},
        {"type": "thinking", "thinking": "own thought", "signature": "b3du"},
        {"type": "redacted_thinking", "data": "cmVk"},
        {"type": "text", "text": "Here you go."},
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}},
    ]
    assert body["stop_reason"] == "tool_use"  # a tool call with a normal stop
    assert body["usage"] == {
        "input_tokens": 10,
        "output_tokens": 30,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 4,
        "output_tokens_details": {"thinking_tokens": 12},
    }
    # And back: the client's next turn carries the foreign reasoning unsigned, which no Anthropic upstream gets.
    parsed = ANTHROPIC.parse_response(body)
    assert parsed.parts[0] == Reasoning("foreign thought") and parsed.usage is not None
    assert parsed.usage.reasoning_tokens == 12


def test_format_response_without_usage_and_with_bad_arguments() -> None:
    body = ANTHROPIC.format_response(UnifiedResponse("msg_1", "m", []), client_request())
    SDKMessage.model_validate(body)
    assert body["usage"]["input_tokens"] == 0 and body["content"] == []
    with pytest.raises(UpstreamError) as caught:
        ANTHROPIC.format_response(UnifiedResponse("msg_1", "m", [ToolCall("c", "f", "{oops")]), client_request())
    assert caught.value.kind == "upstream_invalid"


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (GatewayError("invalid_request", "bad"), "invalid_request_error"),
        (GatewayError("context_window_exceeded", "too long"), "invalid_request_error"),
        (GatewayError("authentication", "key"), "authentication_error"),
        (GatewayError("permission", "no"), "permission_error"),
        (GatewayError("not_found", "model"), "not_found_error"),
        (GatewayError("rate_limit", "slow down"), "rate_limit_error"),
        (GatewayError("quota_exceeded", "quota"), "rate_limit_error"),
        (GatewayError("no_credentials", "none free"), "overloaded_error"),
        (UpstreamError("server_error", "overloaded", upstream_status=529), "overloaded_error"),
        (UpstreamError("server_error", "boom", upstream_status=500), "api_error"),
        (GatewayError("upstream_invalid", "garbage"), "api_error"),
        (GatewayError("timeout", "slow"), "timeout_error"),
        (GatewayError("internal", "bug"), "api_error"),
    ],
)
def test_error_body(error: GatewayError, kind: str) -> None:
    body = ANTHROPIC.format_error(error)
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}}
    ErrorResponse.model_validate(body)


def test_error_body_request_too_large() -> None:
    body = ANTHROPIC.format_error(GatewayError("payload_too_large", "The body is over 32 MiB."))
    assert body == {"type": "error", "error": {"type": "request_too_large", "message": "The body is over 32 MiB."}}


def test_upstream_error_classification() -> None:
    error = ANTHROPIC.upstream_error(429, load("error_429.json"), {"retry-after": "12"})
    assert (error.kind, error.upstream_status, error.retry_after) == ("rate_limit", 429, 12.0)
    assert "50,000 input tokens" in error.message and error.details == {"native_type": "rate_limit_error"}
    overloaded = ANTHROPIC.upstream_error(529, {"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    assert (
        overloaded.kind == "server_error" and ANTHROPIC.format_error(overloaded)["error"]["type"] == "overloaded_error"
    )


def test_count_tokens_answers() -> None:
    body = ANTHROPIC.format_count_tokens(321)
    assert MessageTokensCount.model_validate(body).input_tokens == 321
    assert ANTHROPIC.parse_count_tokens({"input_tokens": 14}) == 14
    with pytest.raises(UpstreamError):
        ANTHROPIC.parse_count_tokens({"tokens": 14})


# -- stream parser -------------------------------------------------------------------------------------------


def test_stream_parser_transcript() -> None:
    events = parse_stream("stream_tools.sse")
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["start", "usage"] and kinds[-2:] == ["usage", "end"]
    start, early = events[0], events[1]
    assert (start.id, start.name) == ("msg_01HCDu5LRGeP2o7s2xGmxyx8", "claude-sonnet-4-5-20250929")
    assert early.usage == Usage(input_tokens=472, output_tokens=3, cache_read_tokens=2048, cache_write_tokens=1200)
    assert "".join(e.text for e in events if e.kind == "reasoning") == (
        "The user wants the weather in Paris; call get_weather."
    )
    (signature,) = [e for e in events if e.kind == "reasoning_signature"]
    assert (signature.signature, signature.signature_family) == ("EqQBCkYIBxgCKkBzaWctc3RyZWFtZWQ=", "anthropic")
    (redacted,) = [e for e in events if e.kind == "reasoning_redacted"]
    assert (redacted.signature, redacted.signature_family) == ("EmwKAhgBEgyRZWRhY3RlZC1zdHJlYW0=", "anthropic")
    assert "".join(e.text for e in events if e.kind == "text") == "Let me check the weather."
    starts = [(e.index, e.id, e.name) for e in events if e.kind == "tool_call_start"]
    assert starts == [
        (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        (1, "toolu_01B2c3d4e5f6g7h8i9j0k1l2", "get_time"),
    ]
    fragments = [e.text for e in events if e.kind == "tool_call_delta"]
    assert len(fragments) == 3 and all(e.index == 0 for e in events if e.kind == "tool_call_delta")
    assert json.loads("".join(fragments)) == {"city": "Paris", "unit": "celsius"}
    end = events[-1]
    assert (end.stop_reason, end.native_stop_reason) == ("tool_use", "tool_use")
    # Input and cache from message_start; output from message_delta, whose repeated input counts do not add up.
    assert end.usage == Usage(input_tokens=472, output_tokens=89, cache_read_tokens=2048, cache_write_tokens=1200)


def test_stream_parser_old_style_delta_usage() -> None:
    """Older API versions send only output_tokens in message_delta; the input still comes from message_start."""
    parser = ANTHROPIC.stream_parser()
    start = {
        "type": "message_start",
        "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 9, "output_tokens": 1}},
    }
    events = parser.feed("message_start", json.dumps(start))
    events += parser.feed(
        None, json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}})
    )
    events += parser.feed(
        None, json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}})
    )
    events += parser.feed("message_stop", '{"type": "message_stop"}')
    assert [e.kind for e in events] == ["start", "usage", "text", "usage", "end"]
    assert events[-1].usage == Usage(input_tokens=9, output_tokens=4)
    assert events[-1].stop_reason == "stop" and parser.finish() == []
    assert parser.feed("message_delta", '{"type": "message_delta"}') == []  # nothing after the terminal


def test_stream_parser_in_band_error() -> None:
    events = parse_stream("stream_error.sse")
    assert [e.kind for e in events] == ["start", "usage", "text", "error"]
    error = events[-1].error
    assert isinstance(error, UpstreamError) and error.kind == "server_error"
    assert error.details == {"native_type": "overloaded_error"} and "Overloaded" in error.message


def test_stream_parser_early_eof_is_an_error() -> None:
    events = parse_stream("stream_truncated.sse")
    assert [e.kind for e in events] == ["start", "usage", "text", "text", "error"]
    assert isinstance(events[-1].error, GatewayError) and events[-1].error.kind == "server_error"
    assert "message_stop" in events[-1].error.message


def test_stream_parser_invalid_chunk() -> None:
    parser = ANTHROPIC.stream_parser()
    (event,) = parser.feed("message_start", "{not json")
    assert event.kind == "error" and event.error.kind == "upstream_invalid"
    assert parser.finish() == []
    (event,) = ANTHROPIC.stream_parser().feed("error", "Internal proxy failure")
    assert event.kind == "error" and event.error.kind == "server_error" and "Internal proxy failure" in str(event.error)


# -- stream formatter ----------------------------------------------------------------------------------------


def _events_of(frames: list[Frame]) -> list[str]:
    for frame in frames:
        assert isinstance(frame.data, dict) and frame.event == frame.data["type"]
        if frame.event != "error":
            STREAM_EVENT.validate_python(frame.data)
    return [str(frame.event) for frame in frames]


def test_stream_formatter_from_openai_upstream() -> None:
    """Usage only at the end, foreign reasoning, split arguments and a second start from a retry."""
    events = [
        StreamEvent("start", id="chatcmpl-up", name="gpt-4.1"),
        StreamEvent("start", id="chatcmpl-retry", name="gpt-4.1"),
        StreamEvent("reasoning", text="Thinking "),
        StreamEvent("reasoning", text="hard."),
        StreamEvent("reasoning_signature", signature="Z2VtaW5p", signature_family="gemini"),
        StreamEvent("text", text="Hello"),
        StreamEvent("text", text=" world"),
        StreamEvent("text_signature", signature="dGV4dA==", signature_family="gemini"),
        StreamEvent("tool_call_start", index=0, id="call_a", name="lookup"),
        StreamEvent("tool_call_delta", index=0, text='{"q": "pa'),
        StreamEvent("tool_call_delta", index=0, text='ris"}'),
        StreamEvent("tool_call_start", index=1, id="call_b", name="noargs"),
        StreamEvent("usage", usage=Usage(input_tokens=20, output_tokens=15, cache_read_tokens=5)),
        StreamEvent("end", stop_reason="stop", native_stop_reason="stop"),
    ]
    frames = format_stream(events, client_request(model="claude-alias"))
    assert _events_of(frames) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = frames[0].data
    assert isinstance(start, dict) and start["message"]["id"] == "msg_gateway01"
    assert start["message"]["model"] == "claude-alias"
    assert "Z2VtaW5p" not in str([f.data for f in frames]) and "dGV4dA==" not in str([f.data for f in frames])
    message = sdk_stream(sse_bytes(frames))
    assert message.id == "msg_gateway01" and message.stop_reason == "tool_use"
    thinking, text, first, second = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Thinking hard." and thinking.signature == ""
    assert text.type == "text" and text.text == "Hello world"
    assert first.type == "tool_use" and (first.id, first.name, first.input) == ("call_a", "lookup", {"q": "paris"})
    assert second.type == "tool_use" and second.input == {}
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (
        20,
        15,
        5,
    )


def test_stream_formatter_anthropic_round_trip() -> None:
    """Anthropic upstream to Anthropic client: signatures, redacted blocks and message_start usage survive."""
    events = [e for e in parse_stream("stream_tools.sse")]
    frames = format_stream(events)
    start = frames[0].data
    assert isinstance(start, dict) and start["message"]["usage"] == {
        "input_tokens": 472,
        "output_tokens": 3,
        "cache_creation_input_tokens": 1200,
        "cache_read_input_tokens": 2048,
    }
    _events_of(frames)
    message = sdk_stream(sse_bytes(frames))
    thinking, redacted, text, weather, clock = message.content
    assert thinking.type == "thinking" and thinking.signature == "EqQBCkYIBxgCKkBzaWctc3RyZWFtZWQ="
    assert thinking.thinking == "The user wants the weather in Paris; call get_weather."
    assert redacted.type == "redacted_thinking" and redacted.data == "EmwKAhgBEgyRZWRhY3RlZC1zdHJlYW0="
    assert text.type == "text" and text.text == "Let me check the weather."
    assert weather.type == "tool_use" and weather.input == {"city": "Paris", "unit": "celsius"}
    assert clock.type == "tool_use" and clock.input == {}
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (472, 89)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (2048, 1200)


def test_stream_formatter_signature_closes_thinking_block() -> None:
    events = [
        StreamEvent("reasoning", text="one"),
        StreamEvent("reasoning_signature", signature="c2lnMQ==", signature_family="anthropic"),
        StreamEvent("reasoning", text="two"),
        StreamEvent("reasoning_signature", signature="c2lnMg==", signature_family="anthropic"),
        StreamEvent("end", stop_reason="max_tokens"),
    ]
    message = sdk_stream(sse_bytes(format_stream(events)))
    assert [(b.type, getattr(b, "thinking", None), getattr(b, "signature", None)) for b in message.content] == [
        ("thinking", "one", "c2lnMQ=="),
        ("thinking", "two", "c2lnMg=="),
    ]
    assert message.stop_reason == "max_tokens"


def test_stream_formatter_error_terminal() -> None:
    frames = format_stream(
        [
            StreamEvent("start", id="x", name="y"),
            StreamEvent("text", text="partial"),
            StreamEvent("error", error=UpstreamError("server_error", "upstream died", upstream_status=500)),
            StreamEvent("end", stop_reason="stop"),  # nothing may follow the terminal
        ]
    )
    names = _events_of(frames)
    assert names == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert frames[-1].data == {"type": "error", "error": {"type": "api_error", "message": "upstream died"}}
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_stream(sse_bytes(frames))
    assert "upstream died" in str(caught.value)


def test_stream_formatter_without_start() -> None:
    """A usage or error event with no start first still makes a stream the SDK accepts."""
    frames = format_stream([StreamEvent("usage", usage=Usage(input_tokens=3)), StreamEvent("end", stop_reason="stop")])
    assert _events_of(frames) == ["message_start", "message_delta", "message_stop"]
    message = sdk_stream(sse_bytes(frames))
    assert message.content == [] and message.usage.input_tokens == 3 and message.stop_reason == "end_turn"

    frames = format_stream([StreamEvent("error", error=GatewayError("no_credentials", "all keys cooling"))])
    assert _events_of(frames) == ["message_start", "error"]
    with pytest.raises(anthropic.APIStatusError):
        sdk_stream(sse_bytes(frames))
    frames = format_stream([StreamEvent("error", error="not a gateway error")])
    assert frames[-1].data == {"type": "error", "error": {"type": "api_error", "message": "not a gateway error"}}
