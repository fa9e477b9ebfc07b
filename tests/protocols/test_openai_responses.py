"""The OpenAI Responses protocol: golden fixtures in, unified types out, and back, checked by the openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseInputItemParam, ResponseStreamEvent, ToolParam
from openai.types.responses.response_create_params import ResponseCreateParamsStreaming
from openai.types.shared import ErrorObject

from asgi_rotator.errors import GatewayError, UpstreamError
from asgi_rotator.protocols import get_protocol
from asgi_rotator.protocols.base import Frame
from asgi_rotator.protocols.openai_responses import OpenAIResponsesProtocol
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

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai_responses"
RESPONSES = OpenAIResponsesProtocol()
BODY = pydantic.TypeAdapter(ResponseCreateParamsStreaming)
INPUT_ITEM = pydantic.TypeAdapter(ResponseInputItemParam)
TOOL = pydantic.TypeAdapter(ToolParam)
STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
ENCRYPTED = "gAAAAABo8dDkStreamedEncryptedReasoning=="


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def check_params(body: dict[str, Any]) -> None:
    """Validate a built body against the SDK's request types (its Iterable fields are lazy, so walk them)."""
    BODY.validate_python({**body, "stream": True})
    for item in body["input"] if isinstance(body["input"], list) else ():
        INPUT_ITEM.validate_python(item)
    for tool in body.get("tools") or ():
        TOOL.validate_python(tool)


def sse_events(raw: bytes, chunk_size: int = 13) -> Iterator[tuple[str | None, str]]:
    """SSE events as the project's decoder yields them from small network-sized pieces."""
    decoder = SSEDecoder()
    for i in range(0, len(raw), chunk_size):
        yield from decoder.feed(raw[i : i + chunk_size])
    yield from decoder.flush()


def parse_stream(name: str) -> list[StreamEvent]:
    parser = RESPONSES.stream_parser()
    events: list[StreamEvent] = []
    for event, data in sse_events((FIXTURES / name).read_bytes()):
        events += parser.feed(event, data)
    return events + parser.finish()


def client_request(**fields: Any) -> UnifiedRequest:
    return RESPONSES.parse_request({"model": "gateway/gpt", "input": "hi", "stream": True, **fields})


def foreign(source: str, messages: list[Message], **fields: Any) -> UnifiedRequest:
    """A unified request as another protocol's parser would have made it."""
    return UnifiedRequest(model="gw-model", messages=messages, source_protocol=source, **fields)


def format_stream(events: list[StreamEvent], request: UnifiedRequest | None = None) -> list[Frame]:
    formatter = RESPONSES.stream_formatter(request or client_request(), "resp_gateway01")
    return [frame for event in events for frame in formatter.feed(event)]


def checked(frames: list[Frame]) -> list[str]:
    """Each frame validated as the SDK's event type and run through its accumulator, in sequence order."""
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for i, frame in enumerate(frames):
        assert isinstance(frame.data, dict) and frame.event == frame.data["type"]
        assert frame.data["sequence_number"] == i
        state.handle_event(STREAM_EVENT.validate_python(frame.data))
    return [str(frame.event) for frame in frames]


def sse_bytes(frames: list[Frame]) -> bytes:
    heartbeat = RESPONSES.stream_formatter(client_request(), "resp_x").heartbeat
    return heartbeat + b"".join(encode_frame(frame) + heartbeat for frame in frames)


def sdk_stream(sse: bytes) -> Response:
    """What ``client.responses.stream(...).get_final_response()`` makes of the bytes."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )
    with client.responses.stream(model="gateway/gpt", input="hi") as stream:
        return stream.get_final_response()


# -- protocol identity ---------------------------------------------------------------------------------------


def test_protocol_identity() -> None:
    assert (RESPONSES.name, RESPONSES.aliases) == ("openai_responses", ("responses", "response_api"))
    assert (RESPONSES.family, RESPONSES.default_auth, RESPONSES.id_prefix) == ("openai", "bearer", "resp_")
    assert get_protocol("responses") is get_protocol("response_api") is get_protocol("openai_responses")
    heartbeat = RESPONSES.stream_formatter(client_request(), "resp_1").heartbeat
    assert heartbeat == b": keep-alive\n\n" and list(sse_events(heartbeat)) == []  # a comment: no event


# -- parse client requests -----------------------------------------------------------------------------------


def test_parse_full_request() -> None:
    body = load("request_full.json")
    check_params(body)  # the fixture itself is a valid SDK request
    request = RESPONSES.parse_request(body)
    assert (request.model, request.stream, request.source_protocol) == ("gpt-5.1-2025-11-13", True, "openai_responses")
    assert request.raw is body
    roles = [m.role for m in request.messages]
    assert roles == ["system", "developer", "user", "assistant", "tool", "assistant", "tool", "assistant", "user"]
    system, developer, user, turn, result, second, radar, refusal, tail = request.messages
    assert system.parts == [Text("You are a travel assistant. Answer briefly.")]
    assert developer.parts == [Text("Units: metric.")]
    text, url_image, inline_image, id_image, pdf, by_id, by_url = user.parts
    assert text == Text(
        "What is in this picture, and what is the weather there?",
        extra={"prompt_cache_breakpoint": {"mode": "explicit", "ttl": "30m"}},
    )
    assert url_image == Media("image", url="https://upload.wikimedia.org/eiffel.jpg", detail="high")
    assert inline_image == Media("image", media_type="image/png", data="iVBORw0KGgoAAAANSUhEUg==", detail="low")
    assert id_image == Media("image", file_id="file-img123", detail="auto")
    assert pdf == Media("document", media_type="application/pdf", data="JVBERi0xLjQK", filename="itinerary.pdf")
    assert by_id == Media("file", file_id="file-abc123")
    assert by_url == Media("file", url="https://example.com/notes.txt")
    # Reasoning, text and the call of one turn are one assistant message; the item ids stay behind.
    reasoning, said, call = turn.parts
    assert reasoning == Reasoning(
        "**Identifying the landmark**\n\nThe image shows the Eiffel Tower.\n\n"
        "**Checking the weather**\n\nI should call get_weather for Paris.",
        redacted="gAAAAABpEncryptedReasoningStateForTurnOne==",
        signature_family="openai",
        item_id="rs_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    )
    assert said == Text("That is the Eiffel Tower; checking the weather.", extra={"phase": "commentary"})
    assert call == ToolCall("call_Xq1y2Z3w4V5u6T7s", "get_weather", '{"city":"Paris","unit":"celsius"}')
    assert result.parts == [ToolResult("call_Xq1y2Z3w4V5u6T7s", [Text('{"temperature":18,"condition":"light rain"}')])]
    assert second.parts == [ToolCall("call_Rad4r", "get_radar", '{"city":"Paris"}')]
    assert radar.parts == [
        ToolResult(
            "call_Rad4r", [Text("Radar image:"), Media("image", url="https://example.com/radar.png", detail="auto")]
        )
    ]
    assert refusal.parts == [Text("I can't share the exact street address.")]
    assert tail.parts == [Text("And tomorrow?")]
    # Function tools are unified; the hosted web_search tool is kept for Responses upstreams only.
    weather, radar_tool = request.tools
    assert weather.name == "get_weather" and weather.strict is True and weather.extra is None
    assert weather.parameters is not None and weather.parameters["required"] == ["city", "unit"]
    assert radar_tool == ToolDefinition(
        "get_radar",
        "Rain radar image for a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        strict=False,
        extra={"defer_loading": True},
    )
    assert [(w.code, w.field, w.source_protocol) for w in request.warnings] == [
        ("hosted_tool", "tools[1]", "openai_responses")
    ]
    assert "'web_search'" in request.warnings[0].message
    assert request.tool_choice == ToolChoice("auto") and request.parallel_tool_calls is False
    assert request.response_format == ResponseFormat(
        "json_schema", schema=body["text"]["format"]["schema"], name="forecast", strict=True
    )
    assert request.reasoning == ReasoningConfig(
        effort="medium", summary="detailed", include_thoughts=True, enabled=True
    )
    assert (request.max_tokens, request.temperature, request.top_p) == (2048, 1.0, 1.0)
    assert (request.user, request.prompt_cache_key, request.metadata) == (
        "user-7f3a",
        "travel-session-42",
        {"app": "trip-planner"},
    )
    assert request.store is False and request.previous_response_id == "resp_0prevprevprevprevprevprevprev"


def test_parse_string_input_and_untyped_items() -> None:
    request = RESPONSES.parse_request({"model": "gpt-4.1", "input": "Tell me a joke."})
    assert request.messages == [Message("user", [Text("Tell me a joke.")])]
    assert request.stream is False and request.store is None and request.reasoning is None
    assert request.tools == [] and request.tool_choice is None and request.warnings == []

    request = RESPONSES.parse_request(
        {
            "model": "gpt-4.1",
            "input": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Again"}]},
            ],
        },
        stream=True,
    )
    assert [(m.role, m.text) for m in request.messages] == [
        ("system", "Be terse."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Again"),
    ]
    assert request.stream is True  # the transport said so


@pytest.mark.parametrize(
    ("choice", "expected", "warned"),
    [
        ("none", ToolChoice("none"), False),
        ("required", ToolChoice("required"), False),
        ({"type": "function", "name": "get_weather"}, ToolChoice("tool", name="get_weather"), False),
        (
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "a"}]},
            ToolChoice("required", allowed=["a"]),
            False,
        ),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "a"}, {"type": "mcp"}]},
            ToolChoice("auto", allowed=["a"]),
            True,
        ),
        ({"type": "custom", "name": "apply_patch"}, ToolChoice("tool", name="apply_patch"), False),
    ],
)
def test_parse_tool_choice(choice: Any, expected: ToolChoice | None, warned: bool) -> None:
    request = RESPONSES.parse_request({"model": "m", "input": "x", "tool_choice": choice})
    assert request.tool_choice == expected
    assert [w.code for w in request.warnings] == (["hosted_tool"] if warned else [])


def test_a_forced_hosted_tool_is_honoured_only_by_a_responses_upstream() -> None:
    request = RESPONSES.parse_request({"model": "m", "input": "x", "tool_choice": {"type": "web_search_preview"}})
    assert request.tool_choice is None and request.warnings == []
    assert [w.field for w in request.source_only] == ["tool_choice"]


@pytest.mark.parametrize(
    ("reasoning", "expected"),
    [
        ({"effort": "high"}, ReasoningConfig(effort="high", enabled=True)),
        ({"effort": "none"}, ReasoningConfig(effort="none", enabled=False)),
        ({"summary": "auto"}, ReasoningConfig(summary="auto", include_thoughts=True)),
        ({"effort": "minimal", "generate_summary": "concise"}, ReasoningConfig("minimal", None, True, "concise", True)),
        ({}, ReasoningConfig()),
    ],
)
def test_parse_reasoning(reasoning: dict[str, Any], expected: ReasoningConfig) -> None:
    assert RESPONSES.parse_request({"model": "m", "input": "x", "reasoning": reasoning}).reasoning == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, ResponseFormat("text")),
        ({"type": "json_object"}, ResponseFormat("json_object")),
        (
            {"type": "json_schema", "name": "x", "schema": {"type": "object"}},
            ResponseFormat("json_schema", {"type": "object"}, "x"),
        ),
    ],
)
def test_parse_text_format(fmt: dict[str, Any], expected: ResponseFormat) -> None:
    text = {"format": fmt, "verbosity": "high"}
    assert RESPONSES.parse_request({"model": "m", "input": "x", "text": text}).response_format == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m", "input": 3}, "input"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "detail": "low"}]}]},
            "input[0].content[0].image_url",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "filename": "a.pdf"}]}]},
            "input[0].content[0].file_data",
        ),
        ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        (
            {"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": 3}]},
            "input[0].arguments",
        ),
        ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
        (
            {"model": "m", "input": [{"type": "reasoning", "summary": [{"type": "summary_text"}]}]},
            "input[0].summary[0].text",
        ),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "m", "input": "x", "tool_choice": "any"}, "tool_choice"),
        (
            {"model": "m", "input": "x", "tool_choice": {"type": "allowed_tools", "mode": "none", "tools": []}},
            "tool_choice.mode",
        ),
        ({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "grammar"}}}, "text.format.type"),
        ({"model": "m", "input": "x", "reasoning": {"effort": 3}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "temperature": "hot"}, "temperature"),
        ({"model": "m", "input": "x", "store": "yes"}, "store"),
        ({"model": "m", "input": "x", "include": [1]}, "include[0]"),
    ],
)
def test_parse_rejects_bad_input(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        RESPONSES.parse_request(body)
    assert (caught.value.kind, caught.value.status, caught.value.param) == ("invalid_request", 400, param)
    assert param.rpartition(".")[2].split("[")[0] in caught.value.message


# -- build upstream requests ---------------------------------------------------------------------------------


def test_build_same_protocol_round_trip() -> None:
    """A Responses client to a Responses upstream: the client's body comes back, minus what the gateway owns."""
    body = load("request_full.json")
    native = RESPONSES.build_request(RESPONSES.parse_request(body), "gpt-5.1")
    assert (native.path, native.method, native.stream, native.headers) == ("/responses", "POST", True, {})
    out = native.body
    check_params(out)
    expected = json.loads(json.dumps(body))
    # Unknown top-level keys pass; the continuation id never does (the gateway replays the lineage itself).
    assert (out["service_tier"], out["truncation"], out["safety_identifier"]) == ("priority", "auto", "sid-9c2e")
    assert "previous_response_id" not in out and out["model"] == "gpt-5.1"
    for key in ("instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "reasoning", "metadata"):
        assert out[key] == expected[key], key
    assert out["tools"][1] == {"type": "web_search", "search_context_size": "low"}  # hosted tool, in its place
    assert out["store"] is False and out["stream"] is True  # store exactly as the client gave it
    assert out["include"] == ["reasoning.encrypted_content", "message.output_text.logprobs"]  # as given
    assert (out["max_output_tokens"], out["user"], out["prompt_cache_key"]) == (2048, "user-7f3a", "travel-session-42")
    items = out["input"]
    assert [i["type"] for i in items] == [
        "message",
        "message",
        "reasoning",
        "message",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert items[0] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "Units: metric."}],
    }
    assert (
        items[1]["content"]
        == [
            {**expected["input"][1]["content"][0]},  # prompt_cache_breakpoint replayed
            *expected["input"][1]["content"][1:4],
            {
                "type": "input_file",
                "file_data": "data:application/pdf;base64,JVBERi0xLjQK",
                "filename": "itinerary.pdf",
            },
            {"type": "input_file", "file_id": "file-abc123"},
            {"type": "input_file", "file_url": "https://example.com/notes.txt"},
        ]
    )
    assert items[2] == {
        "type": "reasoning",
        "id": "rs_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "summary": [
            {
                "type": "summary_text",
                "text": "**Identifying the landmark**\n\nThe image shows the Eiffel Tower.\n\n"
                "**Checking the weather**\n\nI should call get_weather for Paris.",
            }
        ],
        "encrypted_content": "gAAAAABpEncryptedReasoningStateForTurnOne==",
    }
    # Item ids and statuses stay behind (the gateway minted them); the message's phase comes back.
    assert items[3] == {
        "type": "message",
        "role": "assistant",
        "content": "That is the Eiffel Tower; checking the weather.",
        "phase": "commentary",
    }
    assert items[4] == {
        "type": "function_call",
        "call_id": "call_Xq1y2Z3w4V5u6T7s",
        "name": "get_weather",
        "arguments": '{"city":"Paris","unit":"celsius"}',
    }
    assert items[5:8] == expected["input"][5:8]
    assert items[8] == {"type": "message", "role": "assistant", "content": "I can't share the exact street address."}
    assert items[9] == {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And tomorrow?"}]}


def test_build_same_protocol_store_and_instructions_as_given() -> None:
    request = RESPONSES.parse_request(
        {"model": "m", "input": [{"role": "developer", "content": "Rules."}, {"role": "system", "content": "Sys."}]}
    )
    body = RESPONSES.build_request(request, "gpt-4.1").body
    check_params(body)
    assert "store" not in body and "instructions" not in body and "include" not in body
    assert [(i["role"], i["content"][0]["text"]) for i in body["input"]] == [
        ("developer", "Rules."),
        ("system", "Sys."),
    ]
    # The client's include comes back even without a reasoning setting (the model may reason by default).
    codex = RESPONSES.parse_request({"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]})
    assert RESPONSES.build_request(codex, "gpt-5").body["include"] == ["reasoning.encrypted_content"]
    logprobs = RESPONSES.parse_request({"model": "m", "input": "x", "include": ["message.output_text.logprobs"]})
    logprobs.reasoning = ReasoningConfig(effort="low")
    include = RESPONSES.build_request(logprobs, "gpt-5").body["include"]
    assert include == ["message.output_text.logprobs", "reasoning.encrypted_content"]
    stored = RESPONSES.parse_request(
        {"model": "m", "input": "x", "store": True, "tool_choice": {"type": "mcp", "server_label": "deepwiki"}}
    )
    body = RESPONSES.build_request(stored, "gpt-4.1").body
    assert body["store"] is True and body["tool_choice"] == {"type": "mcp", "server_label": "deepwiki"}


def test_build_from_openai_chat_shape() -> None:
    """Leading system and developer become instructions; later ones developer items; tool messages outputs."""
    request = foreign(
        "openai_chat",
        [
            Message("system", [Text("You are helpful.")]),
            Message("developer", [Text("Answer in one line.")]),
            Message(
                "user", [Text("Weather here?"), Media("image", media_type="image/jpeg", data="/9j/4AAQ", detail="low")]
            ),
            Message(
                "assistant",
                [Reasoning("o-series thoughts"), Text(""), ToolCall("call_abc", "get_weather", '{"city":"Paris"}')],
            ),
            Message("tool", [ToolResult("call_abc", [Text("18C")], name="get_weather")]),
            Message("tool", [ToolResult("call_def", [Text("timeout")], is_error=True)]),
            Message("system", [Text("Now be funny.")]),
            Message("user", [Text("And tomorrow?"), Media("image", url="https://example.com/sky.png")]),
        ],
        tools=[
            ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
        ],
        tool_choice=ToolChoice("tool", name="get_weather"),
        parallel_tool_calls=True,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop=["END"],
        presence_penalty=0.5,
        frequency_penalty=0.1,
        max_tokens=300,
        user="u-1",
        prompt_cache_key="k-1",
        metadata={"trace": "abc"},
        store=True,
        response_format=ResponseFormat("json_schema", schema={"type": "object"}, name="out", strict=True),
        reasoning=ReasoningConfig(effort="high", enabled=True),
        stream=True,
        raw={"messages": [], "n": 1, "logprobs": True, "service_tier": "flex"},
    )
    native = RESPONSES.build_request(request, "gpt-5")
    body = native.body
    check_params(body)
    assert native.stream is True and body["stream"] is True and body["model"] == "gpt-5"
    assert body["instructions"] == "You are helpful.\n\nAnswer in one line."
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "detail": "low", "image_url": "data:image/jpeg;base64,/9j/4AAQ"},
            ],
        },
        # Unsigned reasoning and the empty text are gone: only OpenAI's encrypted state can go back.
        {"type": "function_call", "call_id": "call_abc", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_abc", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_def", "output": "Error: timeout"},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Now be funny."}]},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "And tomorrow?"},
                {"type": "input_image", "detail": "auto", "image_url": "https://example.com/sky.png"},
            ],
        },
    ]
    # Another protocol's tools are not strict unless they said so (Responses would default to strict).
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"} and body["parallel_tool_calls"] is True
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}
    }
    assert body["reasoning"] == {"effort": "high"} and body["include"] == ["reasoning.encrypted_content"]
    assert (body["temperature"], body["top_p"], body["max_output_tokens"]) == (0.2, 0.9, 300)
    assert (body["user"], body["prompt_cache_key"]) == ("u-1", "k-1")
    # Cross-protocol: nothing is stored upstream, foreign raw keys and metadata stay behind.
    assert body["store"] is False and "metadata" not in body
    assert not {"n", "logprobs", "service_tier", "messages", "seed", "stop"} & body.keys()
    assert [(w.code, w.field, w.source_protocol, w.target_protocol) for w in request.warnings] == [
        ("dropped_field", field, "openai_chat", "openai_responses")
        for field in ("stop", "seed", "presence_penalty", "frequency_penalty")
    ]


def test_build_from_anthropic_shape() -> None:
    """Anthropic state never crosses; results inside user turns keep their order; cache_control stays behind."""
    request = foreign(
        "anthropic_messages",
        [
            Message("system", [Text("Be exact.", extra={"cache_control": {"type": "ephemeral"}})]),
            Message(
                "user",
                [
                    Text("Read", extra={"cache_control": {"type": "ephemeral"}}),
                    Media("document", media_type="application/pdf", data="JVBERi0x"),
                ],
            ),
            Message(
                "assistant",
                [
                    Reasoning("Let me think.", signature="RXF3c2lnbmF0dXJl", signature_family="anthropic"),
                    Reasoning(redacted="EmwKAhgBEgy=", signature_family="anthropic"),
                    Text("Calling."),
                    ToolCall("toolu_01A", "lookup", '{"q":"a"}'),
                    ToolCall("toolu_01B", "snapshot", "{}"),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult("toolu_01A", [Text("found")]),
                    ToolResult(
                        "toolu_01B",
                        [Text("bad frame"), Media("image", media_type="image/png", data="iVBO")],
                        is_error=True,
                    ),
                    Text("Next?"),
                ],
            ),
        ],
        tools=[ToolDefinition("lookup", None, None, None), ToolDefinition("snapshot", "Grab", None, True)],
        tool_choice=ToolChoice("required", allowed=["lookup"]),
        reasoning=ReasoningConfig(budget_tokens=2048, include_thoughts=True),
        top_k=5,
        max_tokens=1024,
        metadata={"user_id": "u"},
        raw={"thinking": {"type": "enabled", "budget_tokens": 2048}},
    )
    body = RESPONSES.build_request(request, "gpt-5").body
    check_params(body)
    assert body["instructions"] == "Be exact." and "RXF3c2lnbmF0dXJl" not in json.dumps(body)
    assert "EmwKAhgBEgy=" not in json.dumps(body) and "cache_control" not in json.dumps(body)
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Read"},
                # The API reads a file's type from its name, so inline data always gets one.
                {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0x", "filename": "document.pdf"},
            ],
        },
        {"type": "message", "role": "assistant", "content": "Calling."},
        {"type": "function_call", "call_id": "toolu_01A", "name": "lookup", "arguments": '{"q":"a"}'},
        {"type": "function_call", "call_id": "toolu_01B", "name": "snapshot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "toolu_01A", "output": "found"},
        {
            "type": "function_call_output",
            "call_id": "toolu_01B",
            "output": [
                {"type": "input_text", "text": "Error: bad frame"},
                {"type": "input_image", "detail": "auto", "image_url": "data:image/png;base64,iVBO"},
            ],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Next?"}]},
    ]
    assert [t["name"] for t in body["tools"]] == ["lookup", "snapshot"] and body["tools"][1]["strict"] is True
    assert body["tools"][0]["parameters"] == {"type": "object", "properties": {}}
    assert body["tool_choice"] == {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "lookup"}],
    }
    # 2048 thinking tokens is "low" in the one reasoning table; visible thinking asks for a summary.
    assert body["reasoning"] == {"effort": "low", "summary": "auto"} and body["include"] == [
        "reasoning.encrypted_content"
    ]
    assert "top_k" not in body and [w.field for w in request.warnings] == ["top_k"]


def test_build_from_gemini_shape_with_reinjected_openai_state() -> None:
    """Gemini signatures are dropped; OpenAI reasoning the gateway kept server-side goes back with its id."""
    request = foreign(
        "gemini",
        [
            Message("user", [Text("Plan a trip"), Media("file", media_type="text/csv", data="YSxiCg==")]),
            Message(
                "assistant",
                [
                    Reasoning("kept summary", redacted="gAAAAAkept==", signature_family="openai", item_id="rs_up1"),
                    Reasoning("gemini thought", signature="Z2VtaW5p", signature_family="gemini"),
                    Text("Calling", signature="dGV4dA==", signature_family="gemini"),
                    Text(" now."),
                    ToolCall("call_g1", "book", '{"day":1}', signature="Y2FsbA==", signature_family="gemini"),
                ],
            ),
            Message("tool", [ToolResult("call_g1", [Text('{"ok":true}')], name="book")]),
        ],
        response_format=ResponseFormat("json_schema", schema=None),
    )
    body = RESPONSES.build_request(request, "gpt-5").body
    check_params(body)
    dumped = json.dumps(body)
    assert "Z2VtaW5p" not in dumped and "dGV4dA==" not in dumped and "Y2FsbA==" not in dumped
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Plan a trip"},
                {"type": "input_file", "file_data": "data:text/csv;base64,YSxiCg==", "filename": "file.csv"},
            ],
        },
        {
            "type": "reasoning",
            "id": "rs_up1",
            "summary": [{"type": "summary_text", "text": "kept summary"}],
            "encrypted_content": "gAAAAAkept==",
        },
        {"type": "message", "role": "assistant", "content": "Calling now."},
        {"type": "function_call", "call_id": "call_g1", "name": "book", "arguments": '{"day":1}'},
        {"type": "function_call_output", "call_id": "call_g1", "output": '{"ok":true}'},
    ]
    # Encrypted state in the input means a reasoning model: ask for the next turn's state too.
    assert body["include"] == ["reasoning.encrypted_content"] and "reasoning" not in body
    assert body["text"] == {"format": {"type": "json_object"}}  # a schema-less JSON request


@pytest.mark.parametrize(
    ("reasoning", "expected", "include"),
    [
        (ReasoningConfig(effort="none", enabled=False), {"effort": "none"}, False),
        (ReasoningConfig(budget_tokens=0, enabled=False), {"effort": "none"}, False),
        (ReasoningConfig(budget_tokens=9000), {"effort": "high"}, True),
        (ReasoningConfig(include_thoughts=True), {"summary": "auto"}, True),
        (ReasoningConfig(include_thoughts=False, budget_tokens=1024), {"effort": "minimal"}, True),
        (ReasoningConfig(effort="medium", summary="concise"), {"effort": "medium", "summary": "concise"}, True),
    ],
)
def test_build_reasoning(reasoning: ReasoningConfig, expected: dict[str, Any], include: bool) -> None:
    body = RESPONSES.build_request(foreign("gemini", [Message("user", [Text("x")])], reasoning=reasoning), "o4").body
    assert body["reasoning"] == expected
    assert ("include" in body) is include


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), "auto"),
        (ToolChoice("none"), "none"),
        (ToolChoice("required"), "required"),
        (ToolChoice("tool", name="f"), {"type": "function", "name": "f"}),
        (
            ToolChoice("auto", allowed=["f", "g"]),
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "g"}],
            },
        ),
        (ToolChoice("none", allowed=["f"]), "none"),
    ],
)
def test_build_tool_choice(choice: ToolChoice, expected: Any) -> None:
    tools = [ToolDefinition("f"), ToolDefinition("g")]
    request = foreign("anthropic_messages", [Message("user", [Text("x")])], tools=tools, tool_choice=choice)
    body = RESPONSES.build_request(request, "gpt-5").body
    check_params(body)
    assert body["tool_choice"] == expected


def test_build_lossy_and_impossible_conversions() -> None:
    generated = foreign(
        "gemini",
        [Message("user", [Text("draw")]), Message("assistant", [Media("image", media_type="image/png", data="AAAA")])],
    )
    body = RESPONSES.build_request(generated, "gpt-5").body
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "draw"}]}]
    assert [(w.code, w.field) for w in generated.warnings] == [("dropped_field", "input")]
    impossible = [
        Message("user", [Media("audio", media_type="audio/wav", data="UklGRg==")]),
        Message("user", [Media("image")]),
        Message("user", [Media("file", media_type="text/plain")]),
        Message("tool", [ToolResult("c1", [Media("audio", media_type="audio/mp3", data="SUQz")])]),
    ]
    for message in impossible:
        with pytest.raises(GatewayError) as caught:
            RESPONSES.build_request(foreign("openai_chat", [message]), "gpt-5")
        assert caught.value.kind == "invalid_request" and caught.value.status == 400


# -- upstream answers ----------------------------------------------------------------------------------------


def test_parse_response() -> None:
    body = load("response_tool_call.json")
    Response.model_validate(body)  # the fixture is a valid Response
    response = RESPONSES.parse_response(body)
    assert (response.id, response.model, response.created) == ("", "gpt-5.1-2025-11-13", 1760674473)
    assert response.upstream_id == "resp_68f1c2a9b7e08190a1b2c3d4e5f6a7b8"
    reasoning, text, call = response.parts  # the hosted web_search_call ran upstream: nothing to carry
    assert reasoning == Reasoning(
        "**Planning the lookup**\n\nThe user wants the weather in Paris.\n\n"
        "**Calling the tool**\n\nget_weather takes a city and a unit.",
        redacted="gAAAAABo8cKqEncryptedStateOfThisTurn==",
        signature_family="openai",
        item_id="rs_68f1c2aa1f0c8190b6c7d8e9f0a1b2c3",
    )
    assert text == Text("Let me check the weather in Paris.")
    assert call == ToolCall("call_Zw8rTq3nXy5bLm2k", "get_weather", '{"city":"Paris","unit":"celsius"}')
    assert (response.stop_reason, response.native_stop_reason) == ("tool_use", "completed")
    # OpenAI's input_tokens include the cached ones; canonical input is the uncached rest.
    assert response.usage == Usage(
        input_tokens=200, output_tokens=412, cache_read_tokens=1536, cache_write_tokens=128, reasoning_tokens=320
    )


def test_parse_response_incomplete_failed_cost_and_invalid() -> None:
    body = load("response_incomplete.json")
    Response.model_validate(body)
    response = RESPONSES.parse_response(body)
    assert (response.stop_reason, response.native_stop_reason) == ("max_tokens", "incomplete")
    assert response.text == "Paris is the capital and most populous city of"
    assert response.usage == Usage(input_tokens=12, output_tokens=16)

    filtered = {**body, "incomplete_details": {"reason": "content_filter"}}
    assert RESPONSES.parse_response(filtered).stop_reason == "content_filter"
    failed = {**body, "status": "failed", "error": {"code": "server_error", "message": "x"}, "output": []}
    assert RESPONSES.parse_response(failed).stop_reason == "error"
    # Raw reasoning (gpt-oss behind a Responses-compatible server) and a provider-reported cost.
    compatible = {
        "object": "response",
        "status": "completed",
        "model": "openai/gpt-oss-120b",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "hmm"}]},
            {"type": "message", "content": [{"type": "output_text", "text": "ok"}]},
        ],
        "usage": {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14, "cost": 0.00012},
    }
    response = RESPONSES.parse_response(compatible)
    assert response.parts == [Reasoning("hmm", item_id="rs_1"), Text("ok")] and response.stop_reason == "stop"
    assert response.usage is not None and response.usage.provider_cost_usd == 0.00012
    for bad in ({"object": "chat.completion", "choices": []}, {"object": "response"}, {"output": ["text"]}):
        with pytest.raises(UpstreamError) as caught:
            RESPONSES.parse_response(bad)
        assert (caught.value.kind, caught.value.status) == ("upstream_invalid", 502)


@pytest.mark.parametrize(
    ("status", "details", "output", "canonical"),
    [
        ("completed", None, [], "stop"),
        ("completed", None, [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}], "tool_use"),
        ("incomplete", {"reason": "max_output_tokens"}, [], "max_tokens"),
        ("incomplete", {"reason": "content_filter"}, [], "content_filter"),
        ("failed", None, [], "error"),
        ("cancelled", None, [], "error"),
        ("in_progress", None, [], "unknown"),
    ],
)
def test_stop_reason_from_responses(status: str, details: Any, output: list[Any], canonical: StopReason) -> None:
    body = {"object": "response", "status": status, "incomplete_details": details, "output": output}
    response = RESPONSES.parse_response(body)
    assert (response.stop_reason, response.native_stop_reason) == (canonical, status)


@pytest.mark.parametrize(
    ("canonical", "status", "reason"),
    [
        ("stop", "completed", None),
        ("tool_use", "completed", None),
        ("unknown", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("incomplete", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("error", "failed", None),
    ],
)
def test_stop_reason_to_responses(canonical: StopReason, status: str, reason: str | None) -> None:
    body = RESPONSES.format_response(UnifiedResponse("resp_1", "m", [Text("x")], canonical), client_request())
    parsed = Response.model_validate(body)
    assert parsed.status == status
    assert (parsed.incomplete_details.reason if parsed.incomplete_details else None) == reason
    assert (parsed.error is not None) is (status == "failed")


def test_format_response() -> None:
    body = load("request_full.json")
    request = RESPONSES.parse_request({**body, "model": "gateway/gpt-5"})
    answer = UnifiedResponse(
        "resp_gateway01",
        "gpt-5.1-2025-11-13",
        [
            Reasoning("Thinking.", redacted="gAAAAAstate==", signature_family="openai", item_id="rs_up"),
            Reasoning("Claude thought.", signature="c2ln", signature_family="anthropic"),
            Reasoning(redacted="EmwK", signature_family="anthropic"),  # nothing a Responses client can use
            Text("Hello", signature="Z2Vt", signature_family="gemini"),
            Text(" world."),
            ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
            ToolCall("call_2", "get_radar", ""),
            Text("Done."),
        ],
        "tool_use",
        "completed",
        Usage(input_tokens=100, output_tokens=50, cache_read_tokens=300, cache_write_tokens=20, reasoning_tokens=30),
        created=1760000000,
        upstream_id="resp_upstream",
    )
    out = RESPONSES.format_response(answer, request)
    parsed = Response.model_validate(out)
    assert (parsed.id, parsed.model, parsed.created_at, parsed.status) == (
        "resp_gateway01",
        "gateway/gpt-5",
        1760000000,
        "completed",
    )
    assert [i.type for i in parsed.output] == [
        "reasoning",
        "reasoning",
        "message",
        "function_call",
        "function_call",
        "message",
    ]
    own, claude, message, call, bare, tail = out["output"]
    assert own == {
        "id": "rs_up",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Thinking."}],
        "encrypted_content": "gAAAAAstate==",
    }
    assert (
        claude["summary"] == [{"type": "summary_text", "text": "Claude thought."}] and "encrypted_content" not in claude
    )
    assert claude["id"].startswith("rs_") and "c2ln" not in json.dumps(out) and "Z2Vt" not in json.dumps(out)
    assert message["id"].startswith("msg_") and (message["role"], message["status"]) == ("assistant", "completed")
    assert message["content"] == [{"type": "output_text", "text": "Hello world.", "annotations": [], "logprobs": []}]
    assert call["id"].startswith("fc_") and (call["call_id"], call["name"], call["status"]) == (
        "call_1",
        "get_weather",
        "completed",
    )
    assert bare["arguments"] == "{}" and tail["content"][0]["text"] == "Done."
    assert len({i["id"] for i in out["output"]}) == 6
    assert parsed.output_text == "Hello world.Done."
    # OpenAI usage semantics: input_tokens include cached and cache-written tokens.
    assert out["usage"] == {
        "input_tokens": 420,
        "input_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 20},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 30},
        "total_tokens": 470,
    }
    # The request's settings are echoed as the Response type carries them.
    assert out["instructions"] == body["instructions"] and out["tools"] == body["tools"]
    assert (out["tool_choice"], out["parallel_tool_calls"], out["text"], out["reasoning"]) == (
        "auto",
        False,
        body["text"],
        body["reasoning"],
    )
    assert (out["max_output_tokens"], out["previous_response_id"], out["store"], out["metadata"]) == (
        2048,
        "resp_0prevprevprevprevprevprevprev",
        False,
        {"app": "trip-planner"},
    )
    assert (out["error"], out["incomplete_details"], out["object"]) == (None, None, "response")


def test_format_response_defaults_incomplete_and_failed() -> None:
    request = RESPONSES.parse_request({"model": "gw/m", "input": "x"})
    out = RESPONSES.format_response(UnifiedResponse("resp_2", "m", [], "stop"), request)
    parsed = Response.model_validate(out)
    assert parsed.output == [] and parsed.usage is None and parsed.store is True and parsed.metadata == {}
    assert (out["tools"], out["tool_choice"], out["parallel_tool_calls"], out["text"]) == (
        [],
        "auto",
        True,
        {"format": {"type": "text"}},
    )
    out = RESPONSES.format_response(
        UnifiedResponse("resp_3", "m", [Text("cut")], "max_tokens", usage=Usage(5, 16)), request
    )
    parsed = Response.model_validate(out)
    assert parsed.status == "incomplete" and parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "max_output_tokens" and parsed.usage is not None
    out = RESPONSES.format_response(UnifiedResponse("resp_4", "m", [Text("x")], "content_filter"), request)
    assert out["incomplete_details"] == {"reason": "content_filter"}
    out = RESPONSES.format_response(UnifiedResponse("resp_5", "m", [], "error"), request)
    parsed = Response.model_validate(out)
    assert parsed.status == "failed" and parsed.error is not None and parsed.error.code == "server_error"


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (GatewayError("invalid_request", "bad", param="input[0].role"), "invalid_request_error"),
        (GatewayError("context_window_exceeded", "too long"), "invalid_request_error"),
        (GatewayError("authentication", "key"), "authentication_error"),
        (GatewayError("permission", "no"), "permission_error"),
        (GatewayError("not_found", "model"), "not_found_error"),
        (GatewayError("rate_limit", "slow down"), "rate_limit_error"),
        (GatewayError("quota_exceeded", "quota"), "insufficient_quota"),
        (GatewayError("no_credentials", "none free"), "api_error"),
        (UpstreamError("server_error", "boom", upstream_status=500), "api_error"),
        (GatewayError("timeout", "slow"), "api_error"),
    ],
)
def test_error_body(error: GatewayError, kind: str) -> None:
    body = RESPONSES.format_error(error)
    assert body == {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.kind}}
    ErrorObject.model_validate(body["error"])


def test_upstream_error_classification() -> None:
    error = RESPONSES.upstream_error(429, load("error_429.json"), {"retry-after": "4"})
    assert (error.kind, error.upstream_status, error.retry_after) == ("rate_limit", 429, 4.0)
    assert "Rate limit reached for gpt-5.1" in error.message
    context = {
        "error": {
            "message": "Your input exceeds the context window",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    assert RESPONSES.upstream_error(400, context).kind == "context_window_exceeded"


# -- stream parser -------------------------------------------------------------------------------------------


def test_stream_parser_transcript() -> None:
    for _, data in sse_events((FIXTURES / "stream_tool_call.sse").read_bytes()):
        STREAM_EVENT.validate_python(json.loads(data))  # the transcript is what the real API sends
    events = parse_stream("stream_tool_call.sse")
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-2:] == ["usage", "end"]
    assert (events[0].id, events[0].name) == ("resp_68f1d0e2a3b48190b1c2d3e4f5a6b7c8", "gpt-5.1-2025-11-13")
    # Summary parts join as paragraphs, as in a non-streamed answer.
    assert "".join(e.text for e in events if e.kind == "reasoning") == (
        "**Planning the lookup**\n\nThe user wants the weather in Paris.\n\n"
        "**Calling the tool**\n\nget_weather needs a unit."
    )
    (redacted,) = [e for e in events if e.kind == "reasoning_redacted"]
    assert (redacted.signature, redacted.signature_family, redacted.id) == (
        ENCRYPTED,
        "openai",
        "rs_68f1d0e3c5d68190a7b8c9d0e1f2a3b4",
    )
    assert kinds.index("reasoning_redacted") < kinds.index("text")  # it closes the reasoning block
    assert "".join(e.text for e in events if e.kind == "text") == "Let me check the weather in Paris."
    starts = [(e.index, e.id, e.name) for e in events if e.kind == "tool_call_start"]
    assert starts == [(0, "call_Zw8rTq3nXy5bLm2k", "get_weather")]
    fragments = [e.text for e in events if e.kind == "tool_call_delta"]
    assert len(fragments) == 9 and json.loads("".join(fragments)) == {"city": "Paris", "unit": "celsius"}
    end = events[-1]
    assert (end.stop_reason, end.native_stop_reason) == ("tool_use", "completed")
    assert (
        end.usage
        == events[-2].usage
        == Usage(input_tokens=328, output_tokens=412, cache_read_tokens=1536, reasoning_tokens=320)
    )


def test_stream_parser_incomplete_and_terminal() -> None:
    events = parse_stream("stream_incomplete.sse")  # it also holds a keep-alive comment
    assert [e.kind for e in events] == ["start", "text", "text", "usage", "end"]
    assert (events[-1].stop_reason, events[-1].native_stop_reason) == ("content_filter", "incomplete")
    parser = RESPONSES.stream_parser()
    for event, data in sse_events((FIXTURES / "stream_incomplete.sse").read_bytes()):
        parser.feed(event, data)
    # Nothing counts after the terminal, a trailing [DONE] included, and EOF then is clean.
    assert parser.feed(None, "[DONE]") == [] and parser.feed("error", '{"type":"error","message":"x"}') == []
    assert parser.finish() == []


def test_stream_parser_failed_response() -> None:
    events = parse_stream("stream_failed.sse")
    assert [e.kind for e in events] == ["start", "text", "error"]
    error = events[-1].error
    assert isinstance(error, UpstreamError) and error.kind == "server_error"
    assert "The server had an error processing your request" in error.message
    bare = RESPONSES.stream_parser().feed(None, json.dumps({"type": "response.failed", "response": {"id": "r"}}))
    assert [e.kind for e in bare] == ["start", "error"] and bare[-1].error.kind == "server_error"


def test_stream_parser_in_band_error_events() -> None:
    events = parse_stream("stream_error.sse")
    assert [e.kind for e in events] == ["start", "error"]
    error = events[-1].error
    assert isinstance(error, UpstreamError) and error.kind == "context_window_exceeded"
    assert "context window" in error.message
    nested = {
        "type": "error",
        "sequence_number": 3,
        "error": {"type": "tokens", "code": "rate_limit_exceeded", "message": "Slow down"},
    }
    (event,) = RESPONSES.stream_parser().feed("error", json.dumps(nested))
    assert event.kind == "error" and event.error.kind == "rate_limit" and "Slow down" in event.error.message
    (event,) = RESPONSES.stream_parser().feed("error", '{"type":"error","message":"boom"}')
    assert event.error.kind == "server_error"


def test_stream_parser_early_eof_and_invalid_chunks() -> None:
    events = parse_stream("stream_truncated.sse")
    assert [e.kind for e in events] == ["start", "tool_call_start", "tool_call_delta", "error"]
    assert isinstance(events[-1].error, GatewayError) and events[-1].error.kind == "server_error"
    assert "response.completed" in events[-1].error.message
    assert [e.kind for e in RESPONSES.stream_parser().finish()] == ["error"]  # nothing at all is no success
    parser = RESPONSES.stream_parser()
    (event,) = parser.feed("response.created", "{not json")
    assert event.kind == "error" and event.error.kind == "upstream_invalid" and parser.finish() == []
    (event,) = RESPONSES.stream_parser().feed(None, "[1, 2]")
    assert event.kind == "error" and event.error.kind == "upstream_invalid"


def test_stream_parser_whole_items_without_deltas() -> None:
    """Some Responses-compatible servers send whole items in output_item.done and no deltas."""
    parser = RESPONSES.stream_parser()
    chunks = [
        {"type": "response.created", "response": {"id": "resp_c", "model": "m", "status": "in_progress"}},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"id": "rs_c", "type": "reasoning", "summary": [{"type": "summary_text", "text": "why"}]},
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {"id": "msg_c", "type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
        },
        {
            "type": "response.output_item.done",
            "output_index": 2,
            "item": {"id": "fc_c", "type": "function_call", "call_id": "call_c", "name": "f", "arguments": '{"a":1}'},
        },
        {
            "type": "response.output_item.added",
            "output_index": 3,
            "item": {"id": "fc_d", "type": "function_call", "call_id": "call_d", "name": "g", "arguments": ""},
        },
        {"type": "response.function_call_arguments.done", "output_index": 3, "item_id": "fc_d", "arguments": '{"b":2}'},
        {
            "type": "response.output_item.done",
            "output_index": 3,
            "item": {"id": "fc_d", "type": "function_call", "call_id": "call_d", "name": "g", "arguments": '{"b":2}'},
        },
        {"type": "response.completed", "response": {"id": "resp_c", "status": "completed", "output": []}},
    ]
    events = [e for chunk in chunks for e in parser.feed(chunk["type"], json.dumps(chunk))]
    assert [(e.kind, e.text, e.index, e.id) for e in events] == [
        ("start", "", 0, "resp_c"),
        ("reasoning", "why", 0, None),
        ("text", "Hi", 0, None),
        ("tool_call_start", "", 0, "call_c"),
        ("tool_call_delta", '{"a":1}', 0, None),
        ("tool_call_start", "", 1, "call_d"),
        ("tool_call_delta", '{"b":2}', 1, None),  # once: the done events repeat it
        ("end", "", 0, None),
    ]
    assert events[-1].stop_reason == "tool_use" and events[-1].usage is None


# -- stream formatter ----------------------------------------------------------------------------------------


def test_stream_formatter_from_a_foreign_upstream() -> None:
    """Anthropic-style thinking with signatures, Gemini text signatures, split arguments, a retried start."""
    events = [
        StreamEvent("start", id="msg_up", name="claude"),
        StreamEvent("start", id="msg_retry", name="claude"),
        StreamEvent("reasoning", text="Thinking "),
        StreamEvent("reasoning", text="hard."),
        StreamEvent("reasoning_signature", signature="c2lnLTE=", signature_family="anthropic"),
        StreamEvent("reasoning", text="Again."),
        StreamEvent("reasoning_redacted", signature="EmwKAhgB", signature_family="anthropic"),
        StreamEvent("text", text="Hello"),
        StreamEvent("text", text=" world"),
        StreamEvent("text_signature", signature="dGV4dA==", signature_family="gemini"),
        StreamEvent("tool_call_start", index=0, id="toolu_a", name="lookup"),
        StreamEvent("tool_call_delta", index=0, text='{"q": "pa'),
        StreamEvent("tool_call_delta", index=0, text='ris"}'),
        StreamEvent("tool_call_start", index=1, id="toolu_b", name="noargs"),
        StreamEvent("usage", usage=Usage(input_tokens=20, output_tokens=15, cache_read_tokens=5)),
        StreamEvent("end", stop_reason="tool_use", native_stop_reason="tool_use"),
    ]
    frames = format_stream(events, client_request(model="gateway/claude"))
    assert checked(frames) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = frames[0].data
    assert isinstance(created, dict) and created["response"]["id"] == "resp_gateway01"
    assert created["response"]["model"] == "gateway/claude" and created["response"]["status"] == "in_progress"
    dumped = json.dumps([f.data for f in frames])
    assert "c2lnLTE=" not in dumped and "EmwKAhgB" not in dumped and "dGV4dA==" not in dumped
    assert "msg_up" not in dumped and "msg_retry" not in dumped
    final = sdk_stream(sse_bytes(frames))
    assert (final.id, final.model, final.status) == ("resp_gateway01", "gateway/claude", "completed")
    reasoning, message, first, second = final.output
    assert reasoning.type == "reasoning" and [s.text for s in reasoning.summary] == ["Thinking hard.", "Again."]
    assert reasoning.encrypted_content is None
    assert message.type == "message" and final.output_text == "Hello world"
    assert first.type == "function_call" and (first.call_id, first.name) == ("toolu_a", "lookup")
    assert json.loads(first.arguments) == {"q": "paris"}
    assert second.type == "function_call" and (second.call_id, second.arguments) == ("toolu_b", "{}")
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (25, 15)
    assert final.usage.input_tokens_details.cached_tokens == 5
    ids = [item.id for item in final.output]
    assert [i[:3] for i in ids] == ["rs_", "msg", "fc_", "fc_"] and len(set(ids)) == 4


def test_stream_formatter_responses_round_trip() -> None:
    """A Responses upstream to a Responses client: encrypted reasoning and usage survive the unified events."""
    frames = format_stream(parse_stream("stream_tool_call.sse"))
    checked(frames)
    final = sdk_stream(sse_bytes(frames))
    reasoning, message, call = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == ENCRYPTED
    assert reasoning.summary[0].text.startswith("**Planning the lookup**")
    assert message.type == "message" and final.output_text == "Let me check the weather in Paris."
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris", "unit": "celsius"}
    assert final.usage is not None and (final.usage.input_tokens, final.usage.total_tokens) == (1864, 2276)
    assert final.usage.input_tokens_details.cached_tokens == 1536
    assert final.usage.output_tokens_details.reasoning_tokens == 320
    # The gateway's stream parses back into the same canonical story.
    parser = RESPONSES.stream_parser()
    again = [e for f in frames for e in parser.feed(f.event, json.dumps(f.data))] + parser.finish()
    original = parse_stream("stream_tool_call.sse")
    assert [(e.kind, e.text, e.signature) for e in again[1:]] == [(e.kind, e.text, e.signature) for e in original[1:]]


def test_stream_formatter_incomplete() -> None:
    frames = format_stream(
        [StreamEvent("text", text="cut sh"), StreamEvent("end", stop_reason="max_tokens", usage=Usage(3, 16))]
    )
    assert checked(frames)[-1] == "response.incomplete"
    final = Response.model_validate(frames[-1].data["response"])
    assert final.status == "incomplete" and final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].type == "message" and final.output[0].status == "incomplete"
    with pytest.raises(RuntimeError, match="response.completed"):
        sdk_stream(sse_bytes(frames))  # never a success for the SDK's get_final_response


def test_stream_formatter_error_terminal() -> None:
    frames = format_stream(
        [
            StreamEvent("start", id="x", name="y"),
            StreamEvent("tool_call_start", index=0, id="call_1", name="f"),
            StreamEvent("tool_call_delta", index=0, text='{"a"'),
            StreamEvent("usage", usage=Usage(input_tokens=7)),
            StreamEvent("error", error=UpstreamError("rate_limit", "upstream said slow down", upstream_status=429)),
            StreamEvent("end", stop_reason="stop"),  # nothing may follow the terminal
        ]
    )
    names = checked(frames)
    assert names[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.failed"]
    failed = Response.model_validate(frames[-1].data["response"])
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.message) == ("rate_limit_exceeded", "upstream said slow down")
    assert failed.output[0].type == "function_call" and failed.output[0].status == "incomplete"
    assert failed.usage is not None and failed.usage.input_tokens == 7
    with pytest.raises(RuntimeError, match="response.completed"):
        sdk_stream(sse_bytes(frames))


def test_stream_formatter_without_start() -> None:
    """Usage or an error with no start first still makes a whole lifecycle the SDK accepts."""
    frames = format_stream([StreamEvent("usage", usage=Usage(input_tokens=3)), StreamEvent("end", stop_reason="stop")])
    assert checked(frames) == ["response.created", "response.in_progress", "response.completed"]
    final = sdk_stream(sse_bytes(frames))
    assert final.output == [] and final.usage is not None and final.usage.input_tokens == 3

    frames = format_stream([StreamEvent("error", error=GatewayError("no_credentials", "all keys cooling"))])
    assert checked(frames) == ["response.created", "response.in_progress", "response.failed"]
    assert frames[-1].data["response"]["error"] == {"code": "server_error", "message": "all keys cooling"}
    frames = format_stream([StreamEvent("error", error="not a gateway error")])
    assert frames[-1].data["response"]["error"]["message"] == "not a gateway error"
    # An "end" that says the upstream failed is no success either.
    frames = format_stream([StreamEvent("text", text="x"), StreamEvent("end", stop_reason="error")])
    assert checked(frames)[-1] == "response.failed"


def test_stream_formatter_openai_state_and_stray_deltas() -> None:
    frames = format_stream(
        [
            StreamEvent("reasoning_redacted", signature="gAAAAAonly==", signature_family="openai"),
            StreamEvent("tool_call_delta", index=3, text="orphan"),  # no open call: dropped, never misplaced
            StreamEvent("tool_call_start", index=0, id="call_1", name="f"),
            StreamEvent("tool_call_delta", index=1, text="other"),
            StreamEvent("text", text=""),
            StreamEvent("end", stop_reason="tool_use"),
        ]
    )
    checked(frames)
    final = sdk_stream(sse_bytes(frames))
    reasoning, call = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "gAAAAAonly==" and reasoning.summary == []
    assert call.type == "function_call" and call.arguments == "{}"


def test_stream_parser_final_response_only() -> None:
    """A minimal server may send just the final Response: its output is the whole answer."""
    final = {**load("response_tool_call.json"), "output": load("response_tool_call.json")["output"][:3]}
    parser = RESPONSES.stream_parser()
    events = parser.feed("response.completed", json.dumps({"type": "response.completed", "response": final}))
    assert [e.kind for e in events] == [
        "start",
        "reasoning",
        "reasoning_redacted",
        "text",
        "tool_call_start",
        "tool_call_delta",
        "usage",
        "end",
    ]
    assert events[4].id == "call_Zw8rTq3nXy5bLm2k" and events[5].text == '{"city":"Paris","unit":"celsius"}'
    assert events[-1].stop_reason == "tool_use"
