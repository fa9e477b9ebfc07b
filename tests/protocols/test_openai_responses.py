"""OpenAI Responses in both roles, on golden fixtures, validated with the openai SDK's own types."""

from __future__ import annotations

import json
from pathlib import Path

from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from asgi_rotator.errors import GatewayError
from asgi_rotator.protocols import get_protocol
from asgi_rotator.protocols.unified import (
    Reasoning,
    StreamEvent,
    Text,
    ToolCall,
    ToolResult,
    UnifiedResponse,
    Usage,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai_responses"
RESPONSES = get_protocol("openai_responses")


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_parse_request_items():
    request = RESPONSES.parse_request(load("request_items.json"))
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool", "user"]
    reasoning, call = request.messages[2].parts
    assert isinstance(reasoning, Reasoning) and reasoning.redacted == "gAAAA-encrypted"
    assert reasoning.signature_family == "openai" and reasoning.item_id == "rs_1"
    assert call == ToolCall("call_1", "get_weather", '{"city":"Paris"}')
    assert isinstance(request.messages[3].parts[0], ToolResult)
    assert request.response_format.type == "json_schema" and request.previous_response_id == "resp_prev"
    assert [t.name for t in request.tools] == ["get_weather"] and request.warnings[0].code == "hosted_tool"


def test_build_replays_everything_and_stores_nothing_upstream():
    native = RESPONSES.build_request(RESPONSES.parse_request(load("request_items.json")), "gpt-5")
    body = native.body
    assert body["instructions"] == "Be brief." and body["store"] is False and "previous_response_id" not in body
    assert [i["type"] for i in body["input"]] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert body["input"][1]["encrypted_content"] == "gAAAA-encrypted"
    assert {"type": "web_search"} in body["tools"] and body["service_tier"] == "flex"
    assert body["include"] == ["reasoning.encrypted_content"]


def test_other_families_reasoning_never_crosses():
    request = RESPONSES.parse_request({"model": "m", "input": "x"})
    request.messages.append(
        __import__("asgi_rotator.protocols.unified", fromlist=["Message"]).Message(
            "assistant", [Reasoning("t", signature="anthropic-sig", signature_family="anthropic"), Text("ok")]
        )
    )
    items = RESPONSES.build_request(request, "m").body["input"]
    assert all(i["type"] != "reasoning" for i in items) and "anthropic-sig" not in json.dumps(items)


def test_parse_response_and_usage():
    response = RESPONSES.parse_response(load("response_completed.json"))
    assert response.stop_reason == "tool_use" and response.text == "Rain."
    assert response.usage == Usage(input_tokens=60, output_tokens=30, cache_read_tokens=40, reasoning_tokens=12)
    assert isinstance(response.parts[0], Reasoning) and response.parts[0].redacted == "gAAAA-state"


def test_format_response_validates_with_the_sdk():
    request = RESPONSES.parse_request({"model": "gw/m", "input": "x"})
    answer = UnifiedResponse(
        "resp_gw", "m", [Reasoning("hmm"), Text("Hi"), ToolCall("call_1", "f", "{}")], "tool_use", usage=Usage(5, 2)
    )
    parsed = Response.model_validate(RESPONSES.format_response(answer, request))
    assert parsed.status == "completed" and parsed.output_text == "Hi"
    assert [i.type for i in parsed.output] == ["reasoning", "message", "function_call"]
    assert parsed.usage.input_tokens == 5 and parsed.model == "gw/m"


def test_stream_formatter_events_validate_and_accumulate_in_the_sdk():
    request = RESPONSES.parse_request({"model": "gw/m", "input": "x", "stream": True})
    formatter = RESPONSES.stream_formatter(request, "resp_s")
    frames = []
    for event in [
        StreamEvent("start"),
        StreamEvent("reasoning", text="think"),
        StreamEvent("text", text="Hel"),
        StreamEvent("text", text="lo"),
        StreamEvent("tool_call_start", id="call_2", name="f"),
        StreamEvent("tool_call_delta", text='{"a":'),
        StreamEvent("tool_call_delta", text="1}"),
        StreamEvent("end", stop_reason="tool_use", usage=Usage(3, 4)),
    ]:
        frames += formatter.feed(event)
    adapter = TypeAdapter(ResponseStreamEvent)
    state = ResponseStreamState(input_tools=[], text_format=omit)
    for i, frame in enumerate(frames):
        assert frame.data["sequence_number"] == i and frame.event == frame.data["type"]
        state.handle_event(adapter.validate_python(frame.data))
    final = Response.model_validate(frames[-1].data["response"])
    assert final.output_text == "Hello" and final.output[-1].arguments == '{"a":1}'


def test_stream_parser_round_trip_and_failures():
    request = RESPONSES.parse_request({"model": "m", "input": "x", "stream": True})
    formatter = RESPONSES.stream_formatter(request, "resp_r")
    frames = []
    for event in [
        StreamEvent("text", text="ok"),
        StreamEvent("tool_call_start", id="call_3", name="g"),
        StreamEvent("tool_call_delta", text="{}"),
        StreamEvent("end", stop_reason="tool_use"),
    ]:
        frames += formatter.feed(event)
    parser = RESPONSES.stream_parser()
    events = [e for f in frames for e in parser.feed(f.event, json.dumps(f.data))]
    assert [e.kind for e in events] == ["start", "text", "tool_call_start", "tool_call_delta", "end"]
    assert events[-1].stop_reason == "tool_use"
    cut = RESPONSES.stream_parser()
    cut.feed("response.created", json.dumps(frames[0].data))
    assert [e.kind for e in cut.finish()] == ["error"]
    failed = RESPONSES.stream_parser().feed(
        "response.failed",
        json.dumps(
            {"type": "response.failed", "response": {"error": {"code": "rate_limit_exceeded", "message": "slow"}}}
        ),
    )
    assert failed[-1].kind == "error" and failed[-1].error.kind == "rate_limit"


def test_error_terminal_is_response_failed():
    request = RESPONSES.parse_request({"model": "m", "input": "x"})
    formatter = RESPONSES.stream_formatter(request, "resp_f")
    frames = formatter.feed(StreamEvent("text", text="part")) + formatter.feed(
        StreamEvent("error", error=GatewayError("timeout", "stalled"))
    )
    assert frames[-1].event == "response.failed"
    assert Response.model_validate(frames[-1].data["response"]).error.message == "stalled"
