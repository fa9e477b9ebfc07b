"""OpenAI Chat in both roles, on golden fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from asgi_rotator.errors import GatewayError
from asgi_rotator.protocols import get_protocol
from asgi_rotator.protocols.unified import (
    Media,
    Reasoning,
    StreamEvent,
    Text,
    ToolCall,
    ToolResult,
    UnifiedResponse,
    Usage,
)
from asgi_rotator.sse import SSEDecoder, encode_frame

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai_chat"
CHAT = get_protocol("openai_chat")


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_parse_request_with_every_part():
    request = CHAT.parse_request(load("request_tools.json"))
    roles = [m.role for m in request.messages]
    assert roles == ["developer", "user", "assistant", "tool"]
    user = request.messages[1].parts
    assert isinstance(user[0], Text) and isinstance(user[1], Media) and user[1].data == "iVBORw0KGgo="
    assistant = request.messages[2].parts
    assert isinstance(assistant[0], Reasoning) and assistant[0].text == "Need the tool."
    assert assistant[1] == ToolCall("call_1", "get_weather", '{"city":"Paris"}')
    assert isinstance(request.messages[3].parts[0], ToolResult)
    assert request.max_tokens == 300 and request.include_usage and request.stream
    assert request.reasoning is not None and request.reasoning.effort == "low"


def test_same_protocol_build_keeps_the_body_and_unknown_fields():
    body = load("request_tools.json")
    native = CHAT.build_request(CHAT.parse_request(body), "gpt-4.1")
    assert native.path == "/chat/completions" and native.body["logit_bias"] == {"42": 1}
    assert native.body["messages"][1:] == [
        body["messages"][1],
        {"role": "assistant", "content": None, "tool_calls": body["messages"][2]["tool_calls"]},
        body["messages"][3],
    ]
    assert native.body["max_completion_tokens"] == 300 and native.body["stream_options"] == {"include_usage": True}


def test_media_in_a_tool_result_is_refused():
    request = CHAT.parse_request(load("request_tools.json"))
    request.messages[3].parts[0].content.append(Media("image", data="AAAA", media_type="image/png"))
    with pytest.raises(GatewayError) as caught:
        CHAT.build_request(request, "m")
    assert caught.value.status == 400


def test_parse_response_and_usage():
    response = CHAT.parse_response(load("response_tool_call.json"))
    assert response.stop_reason == "tool_use" and response.tool_calls[0].name == "get_weather"
    assert response.usage == Usage(input_tokens=8, output_tokens=20, cache_read_tokens=3, reasoning_tokens=5)
    assert response.upstream_id == "chatcmpl-upstream-1"


def test_format_response_validates_with_the_sdk():
    request = CHAT.parse_request({"model": "gw/m", "messages": [{"role": "user", "content": "x"}]})
    answer = UnifiedResponse("chatcmpl-gw", "m", [Reasoning("hmm"), Text("Hi")], "stop", usage=Usage(5, 2))
    body = CHAT.format_response(answer, request)
    parsed = ChatCompletion.model_validate(body)
    assert parsed.model == "gw/m" and parsed.choices[0].message.content == "Hi"
    assert body["choices"][0]["message"]["reasoning_content"] == "hmm" and parsed.usage.total_tokens == 7


def test_stream_parser_on_a_transcript_fed_in_small_pieces():
    raw = (FIXTURES / "stream_tool_call.sse").read_bytes()
    parser, decoder = CHAT.stream_parser(), SSEDecoder()
    events = []
    for i in range(0, len(raw), 13):
        for name, data in decoder.feed(raw[i : i + 13]):
            events += parser.feed(name, data)
    events += parser.finish()
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and events[-1].stop_reason == "tool_use"
    assert "".join(e.text for e in events if e.kind == "tool_call_delta") == '{"city":"Rome"}'
    assert events[-1].usage.output_tokens == 4


def test_stream_that_stops_early_is_an_error():
    parser = CHAT.stream_parser()
    parser.feed(None, '{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"par"}}]}')
    assert [e.kind for e in parser.finish()] == ["error"]


def test_in_band_error_is_classified():
    events = CHAT.stream_parser().feed(None, '{"error":{"type":"rate_limit_error","message":"slow down"}}')
    assert events[0].kind == "error" and events[0].error.kind == "rate_limit"


def test_stream_formatter_chunks_validate_and_usage_only_when_asked():
    request = CHAT.parse_request({"model": "gw/m", "messages": [], "stream": True})
    formatter = CHAT.stream_formatter(request, "chatcmpl-x")
    frames = []
    for event in [
        StreamEvent("start"),
        StreamEvent("tool_call_start", id="call_1", name="f"),
        StreamEvent("tool_call_delta", text='{"a":1}'),
        StreamEvent("usage", usage=Usage(1, 1)),
        StreamEvent("end", stop_reason="tool_use"),
    ]:
        frames += formatter.feed(event)
    assert frames[-1].data == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(f.data) for f in frames[:-1]]
    assert chunks[-1].choices[0].finish_reason == "tool_calls" and all(c.usage is None for c in chunks)
    assert encode_frame(frames[-1]) == b"data: [DONE]\n\n"


def test_error_body_shape():
    body = CHAT.format_error(GatewayError("not_found", "no such model", param="model"))
    assert body == {
        "error": {"message": "no such model", "type": "not_found_error", "param": "model", "code": "not_found"}
    }
