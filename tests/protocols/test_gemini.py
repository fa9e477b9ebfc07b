"""The Gemini generateContent protocol: golden fixtures in, unified types out, and back, checked by google-genai."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors, models as genai_models, types as genai_types

from asgi_rotator.errors import GatewayError
from asgi_rotator.protocols.base import Frame
from asgi_rotator.protocols.fidelity import applicable
from asgi_rotator.protocols.gemini import GeminiProtocol
from asgi_rotator.protocols.gemini.contents import SKIP_SIGNATURE
from asgi_rotator.protocols.unified import (
    Media,
    Message,
    Reasoning,
    ReasoningConfig,
    ResponseFormat,
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
from asgi_rotator.retry_after import parse_retry_after
from asgi_rotator.sse import SSEDecoder, encode_frame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gemini"
GEMINI = GeminiProtocol()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse_events(name: str, chunk_size: int = 7) -> Iterator[tuple[str | None, str]]:
    """The fixture's SSE events, fed to the project's decoder in small network-sized pieces."""
    raw = (FIXTURES / name).read_bytes()
    assert b"\r\n\r\n" in raw  # real Gemini SSE separates events with CRLF
    decoder = SSEDecoder()
    for i in range(0, len(raw), chunk_size):
        yield from decoder.feed(raw[i : i + chunk_size])
    yield from decoder.flush()


def parse_stream(name: str) -> list[StreamEvent]:
    parser = GEMINI.stream_parser()
    events: list[StreamEvent] = []
    for event, data in sse_events(name):
        events += parser.feed(event, data)
    return events + parser.finish()


def sdk_response(body: dict[str, Any]) -> genai_types.GenerateContentResponse:
    """What google-genai itself makes of a response body (it drops unknown fields, so validate strictly too)."""
    genai_types.GenerateContentResponse.model_validate(body)
    converted = genai_models._GenerateContentResponse_from_mldev(body)
    return genai_types.GenerateContentResponse._from_response(response=converted, kwargs={})


def sdk_client(handler: Callable[[httpx.Request], httpx.Response]) -> genai.Client:
    transport = httpx.MockTransport(handler)
    options = genai_types.HttpOptions(httpx_client=httpx.Client(transport=transport))
    return genai.Client(api_key="test-key", http_options=options)


def sse_bytes(frames: list[Frame], heartbeat: bytes = b"") -> bytes:
    return b"".join(encode_frame(frame, line_end=b"\r\n") + heartbeat for frame in frames)


def client_request(**fields: Any) -> UnifiedRequest:
    return GEMINI.parse_request(
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **fields}, model="gemini-2.5-flash"
    )


# -- protocol identity ---------------------------------------------------------------------------------------


def test_protocol_identity() -> None:
    assert GEMINI.name == "gemini"
    assert GEMINI.aliases == ("google_gemini", "generate_content")
    assert GEMINI.family == "gemini"
    assert GEMINI.default_auth == "x-goog-api-key"
    assert GEMINI.id_prefix == "resp_"
    assert GEMINI.stream_formatter(client_request(), "resp_1").heartbeat == b"\r\n"


# -- parse client requests -----------------------------------------------------------------------------------


def test_parse_sdk_request() -> None:
    """The body google-genai really sends: top-level camelCase, nested snake_case (captured from the SDK)."""
    request = GEMINI.parse_request(load("request_sdk.json"), model="gemini-2.5-flash", stream=True)
    assert request.model == "gemini-2.5-flash" and request.stream and request.source_protocol == "gemini"
    system, user, model, tool = request.messages
    assert system.role == "system" and system.text == "You are a concise assistant."
    assert user.role == "user" and user.text.startswith("What is in this image")
    image, pdf = user.parts[1], user.parts[2]
    assert isinstance(image, Media) and (image.kind, image.media_type, image.data) == (
        "image",
        "image/png",
        "iVBORw0KGgpmYWtl",
    )
    assert isinstance(pdf, Media) and (pdf.kind, pdf.media_type) == ("document", "application/pdf")
    assert pdf.url == "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    thought, first, second = model.parts
    assert model.role == "assistant"
    assert isinstance(thought, Reasoning) and thought.text == "Let me think." and thought.signature is None
    assert isinstance(first, ToolCall) and isinstance(second, ToolCall)
    assert (first.name, json.loads(first.arguments)) == ("get_weather", {"city": "Paris"})
    assert (first.signature, first.signature_family) == ("c2lnLW9uZQ==", "gemini")
    assert second.signature is None and second.signature_family is None
    # No ids on the wire: unique synthetic ones, and the responses answer the calls in order by name.
    assert first.id.startswith("call_") and second.id.startswith("call_") and first.id != second.id
    assert tool.role == "tool"
    ok, failed = tool.parts
    assert isinstance(ok, ToolResult) and isinstance(failed, ToolResult)
    assert (ok.tool_call_id, ok.name, ok.is_error, ok.content) == (first.id, "get_weather", False, [Text("18C, sunny")])
    assert (failed.tool_call_id, failed.is_error, failed.content) == (second.id, True, [Text("station offline")])
    (tool_def,) = request.tools
    assert tool_def.name == "get_weather" and tool_def.description == "Get the current weather for a city."
    assert tool_def.parameters is not None and tool_def.parameters["required"] == ["city"]
    assert request.tool_choice == ToolChoice("required", allowed=["get_weather"])
    assert (request.temperature, request.top_p, request.top_k, request.max_tokens) == (0.3, 0.9, 40, 2048)
    assert (request.stop, request.seed, request.presence_penalty, request.frequency_penalty) == (["END"], 7, 0.1, 0.2)
    assert request.reasoning == ReasoningConfig(budget_tokens=4096, include_thoughts=True, enabled=True)


def test_parse_rest_request() -> None:
    """The REST reference's camelCase shape: ids, signatures on thought and text parts, Gemini's Schema dialect."""
    request = GEMINI.parse_request(load("request_rest.json"), model="gemini-3-pro-preview")
    assert not request.stream
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert [p.text for p in request.messages[0].parts if isinstance(p, Text)] == [
        "You are a travel assistant.",
        "Answer in French.",
    ]
    video = request.messages[1].parts[2]
    assert isinstance(video, Media) and video.kind == "file" and video.media_type == "video/mp4"
    assert video.extra == {"videoMetadata": {"startOffset": "10s", "endOffset": "40s"}}
    thought, call = request.messages[2].parts
    assert isinstance(thought, Reasoning) and thought.signature_family == "gemini"
    assert thought.signature == "CtwBAVSoXO5Xo2nJz0cdTiIqBd2u3g=="
    assert isinstance(call, ToolCall) and call.id == "fc_01" and call.signature_family == "gemini"
    (result,) = request.messages[3].parts
    assert isinstance(result, ToolResult) and result.tool_call_id == "fc_01" and not result.is_error
    assert json.loads(result.content[0].text) == {"forecast": "sunny", "high_c": 24}  # type: ignore[union-attr]
    (answer,) = request.messages[4].parts
    assert isinstance(answer, Text) and (answer.signature, answer.signature_family) == (
        "EjQKMgFVKhc7RZbO0g==",
        "gemini",
    )
    weather, booking = request.tools
    # Gemini's Schema dialect becomes JSON Schema for the other protocols.
    assert weather.parameters == {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}, "days": {"type": ["integer", "null"]}},
        "required": ["city"],
    }
    assert booking.parameters is not None and booking.parameters["required"] == ["restaurant", "time"]
    assert booking.extra == {"behavior": "BLOCKING"}
    assert request.tool_choice == ToolChoice("auto")
    assert request.response_format == ResponseFormat(
        "json_schema",
        schema={
            "type": "object",
            "properties": {
                "plan": {"type": "array", "items": {"type": "string"}},
                "budget_eur": {"type": ["number", "null"]},
            },
            "required": ["plan"],
        },
    )
    assert request.reasoning == ReasoningConfig(effort="high", include_thoughts=True, enabled=True)
    assert request.top_k == 64 and request.stop == ["\n\n\n"]


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"thinkingBudget": 0}, ReasoningConfig(enabled=False)),
        ({"thinking_budget": -1, "include_thoughts": True}, ReasoningConfig(include_thoughts=True, enabled=True)),
        ({"thinkingBudget": 1024}, ReasoningConfig(budget_tokens=1024, enabled=True)),
        ({"thinkingLevel": "LOW"}, ReasoningConfig(effort="low", enabled=True)),
    ],
)
def test_parse_thinking_config(thinking: dict[str, Any], expected: ReasoningConfig) -> None:
    assert client_request(generationConfig={"thinkingConfig": thinking}).reasoning == expected


def test_parse_snake_case_top_level_and_string_system() -> None:
    request = client_request(
        system_instruction="Be kind.",
        generation_config={"max_output_tokens": 10, "response_mime_type": "application/json"},
        tool_config={"function_calling_config": {"mode": "NONE"}},
    )
    assert request.messages[0] == Message("system", [Text("Be kind.")])
    assert request.max_tokens == 10 and request.response_format == ResponseFormat("json_object")
    assert request.tool_choice == ToolChoice("none")


def test_parse_count_tokens_both_forms() -> None:
    wrapped = GEMINI.parse_request(
        load("count_tokens_request.json"), model="gemini-2.5-flash", operation="count_tokens"
    )
    assert wrapped.operation == "count_tokens" and not wrapped.stream
    assert [m.role for m in wrapped.messages] == ["system", "user"] and wrapped.tools[0].name == "lookup"
    plain = GEMINI.parse_request(
        {"contents": [{"parts": [{"text": "Hello there"}]}]},
        model="gemini-2.5-flash",
        operation="count_tokens",
        stream=True,
    )
    assert plain.messages == [Message("user", [Text("Hello there")])] and not plain.stream


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "contents"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"role": "user", "parts": [{}]}]}, "contents[0].parts[0]"),
        ({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}]}, "contents[0].parts[0]"),
        (
            {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png"}}]}]},
            "contents[0].parts[0].inlineData.data",
        ),
        ({"contents": [], "generationConfig": {"temperature": "hot"}}, "generationConfig.temperature"),
        ({"contents": [], "generationConfig": {"candidateCount": 2}}, "generationConfig.candidateCount"),
        (
            {"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
        (
            {"contents": [], "tools": [{"functionDeclarations": [{"description": "nameless"}]}]},
            "tools[0].functionDeclarations[0].name",
        ),
    ],
)
def test_parse_rejects_bad_input(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        GEMINI.parse_request(body, model="gemini-2.5-flash")
    assert caught.value.kind == "invalid_request" and caught.value.status == 400
    assert caught.value.param == param


def test_parse_needs_a_model() -> None:
    with pytest.raises(GatewayError, match="model"):
        GEMINI.parse_request({"contents": []})


# -- build upstream requests ---------------------------------------------------------------------------------


def test_build_same_protocol_replays_the_client_body() -> None:
    """Gemini to Gemini: unknown fields, built-in tools, native schemas and responses go back verbatim."""
    raw = load("request_rest.json")
    request = GEMINI.parse_request(raw, model="gemini-2.5-pro", stream=True)
    native = GEMINI.build_request(request, "gemini-2.5-pro")
    assert (native.path, native.query, native.stream) == (
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
        {"alt": "sse"},
        True,
    )
    body = native.body
    for key in ("safetySettings", "cachedContent", "labels", "systemInstruction"):
        assert body[key] == raw[key]
    assert body["contents"] == raw["contents"]
    assert body["tools"] == raw["tools"]
    assert body["toolConfig"] == raw["toolConfig"]
    assert body["generationConfig"] == raw["generationConfig"]
    assert applicable(request, GEMINI) == []  # a hosted tool is dropped only on the way to another protocol


def test_build_same_protocol_sdk_body() -> None:
    raw = load("request_sdk.json")
    request = GEMINI.parse_request(raw, model="gemini-2.5-flash")
    body = GEMINI.build_request(request, "gemini-2.5-flash").body
    model_turn = body["contents"][1]["parts"]
    assert model_turn[0] == {"text": "Let me think.", "thought": True}
    assert model_turn[1]["thoughtSignature"] == "c2lnLW9uZQ==" and "thoughtSignature" not in model_turn[2]
    calls = [p["functionCall"] for p in model_turn[1:]]
    responses = [p["functionResponse"] for p in body["contents"][2]["parts"]]
    assert [r["id"] for r in responses] == [c["id"] for c in calls]
    assert [r["response"] for r in responses] == [{"output": "18C, sunny"}, {"error": "station offline"}]
    assert body["safetySettings"] == raw["safetySettings"]
    assert body["generationConfig"]["thinkingConfig"] == {"include_thoughts": True, "thinking_budget": 4096}
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == raw["tools"][0]["functionDeclarations"][0]["parameters_json_schema"]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def openai_chat_request() -> UnifiedRequest:
    """A unified request as the OpenAI Chat parser makes it."""
    return UnifiedRequest(
        model="gemini/gemini-2.5-flash",
        source_protocol="openai_chat",
        raw={"model": "gemini/gemini-2.5-flash", "messages": [], "logit_bias": {"50256": -100}, "n": 1},
        stream=True,
        include_usage=True,
        messages=[
            Message("system", [Text("Be brief.")]),
            Message("developer", [Text("Use metric units.")]),
            Message("user", [Text("Weather here?"), Media("image", media_type="image/jpeg", data="/9j/4AAQ")]),
            Message(
                "assistant",
                [
                    ToolCall("call_a", "get_weather", '{"city":"Paris"}'),
                    ToolCall("call_b", "get_weather", '{"city": "Lyon"}'),
                ],
            ),
            Message("tool", [ToolResult("call_a", [Text("18C")])]),
            Message("tool", [ToolResult("call_b", [Text("20C")])]),
            Message("assistant", [Text("Paris 18C, Lyon 20C.")]),
            Message(
                "user",
                [
                    Text("And this?"),
                    Media("image", url="https://example.com/cat.png", detail="high"),
                    Media("image", url="data:image/webp;base64,UklGRg=="),
                ],
            ),
        ],
        tools=[ToolDefinition("get_weather", "Weather for a city.", WEATHER_SCHEMA, strict=True)],
        tool_choice=ToolChoice("tool", name="get_weather"),
        parallel_tool_calls=False,
        max_tokens=500,
        temperature=0.2,
        top_p=0.8,
        stop=["STOP"],
        seed=11,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_format=ResponseFormat("json_schema", schema={"type": "object"}, name="weather", strict=True),
        reasoning=ReasoningConfig(effort="high", enabled=True),
        user="user-1",
    )


def test_build_from_openai_chat() -> None:
    request = openai_chat_request()
    native = GEMINI.build_request(request, "gemini-2.5-flash")
    assert native.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and native.query == {"alt": "sse"}
    assert native.body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric units."}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "Weather here?"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}],
            },
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"id": "call_b", "name": "get_weather", "args": {"city": "Lyon"}}},
                ],
            },
            # Both results of the parallel calls answer in one turn, with the names Chat does not send.
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "call_a", "name": "get_weather", "response": {"result": "18C"}}},
                    {"functionResponse": {"id": "call_b", "name": "get_weather", "response": {"result": "20C"}}},
                ],
            },
            {"role": "model", "parts": [{"text": "Paris 18C, Lyon 20C."}]},
            {
                "role": "user",
                "parts": [
                    {"text": "And this?"},
                    {"fileData": {"fileUri": "https://example.com/cat.png"}},
                    {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather for a city.",
                        "parametersJsonSchema": WEATHER_SCHEMA,
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.8,
            "maxOutputTokens": 500,
            "stopSequences": ["STOP"],
            "seed": 11,
            "presencePenalty": 0.5,
            "frequencyPenalty": 0.25,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingBudget": 24576},
        },
    }
    assert {w.field for w in request.warnings} == {"parallel_tool_calls", "tools.strict", "response_format.strict"}
    assert all(w.target_protocol == "gemini" and w.source_protocol == "openai_chat" for w in request.warnings)


def test_build_effort_as_thinking_level_for_gemini_3() -> None:
    body = GEMINI.build_request(openai_chat_request(), "models/gemini-3-pro-preview").body
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "high"}
    # No Gemini signature was ever seen for these calls: Gemini 3 gets the documented skip marker on the first.
    calls = body["contents"][1]["parts"]
    assert calls[0]["thoughtSignature"] == SKIP_SIGNATURE and "thoughtSignature" not in calls[1]


def test_build_from_anthropic_messages() -> None:
    request = UnifiedRequest(
        model="gemini-3-flash-preview",
        source_protocol="anthropic_messages",
        messages=[
            Message("system", [Text("You are careful.", extra={"cache_control": {"type": "ephemeral"}})]),
            Message("user", [Text("Read this."), Media("document", media_type="application/pdf", data="JVBERi0x")]),
            Message(
                "assistant",
                [
                    Reasoning("Let me search.", signature="EqMBCkYIBxgCKkAanthropic", signature_family="anthropic"),
                    Reasoning(redacted="EmwKAhgBEgy3va3pzix", signature_family="anthropic"),
                    Text("I'll look it up."),
                    ToolCall("toolu_01", "search", '{"q": "gemini"}'),
                    ToolCall("toolu_02", "screenshot", "{}"),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult("toolu_01", [Text("rate limited")], is_error=True),
                    ToolResult(
                        "toolu_02", [Text("Here it is."), Media("image", media_type="image/png", data="iVBORw0")]
                    ),
                    Text("Try again, please."),
                ],
            ),
        ],
        max_tokens=4096,
        top_k=5,
        stop=["\n\nHuman:"],
        tool_choice=ToolChoice("auto"),
        reasoning=ReasoningConfig(budget_tokens=2000, enabled=True),
        metadata={"user_id": "u-7"},
    )
    body = GEMINI.build_request(request, "gemini-3-flash-preview").body
    assert body["systemInstruction"] == {"parts": [{"text": "You are careful."}]}  # no cache_control across
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [{"text": "Read this."}, {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}}],
        },
        # Anthropic's thinking never reaches Gemini; the first call carries the skip marker instead.
        {
            "role": "model",
            "parts": [
                {"text": "I'll look it up."},
                {
                    "functionCall": {"id": "toolu_01", "name": "search", "args": {"q": "gemini"}},
                    "thoughtSignature": SKIP_SIGNATURE,
                },
                {"functionCall": {"id": "toolu_02", "name": "screenshot", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "toolu_01", "name": "search", "response": {"error": "rate limited"}}},
                {
                    "functionResponse": {
                        "id": "toolu_02",
                        "name": "screenshot",
                        "response": {"result": "Here it is."},
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0"}}],
                    }
                },
                {"text": "Try again, please."},
            ],
        },
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["generationConfig"] == {
        "topK": 5,
        "maxOutputTokens": 4096,
        "stopSequences": ["\n\nHuman:"],
        "thinkingConfig": {"thinkingBudget": 2000},
    }
    assert "safetySettings" not in body  # never injected


def test_build_from_openai_responses() -> None:
    request = UnifiedRequest(
        model="gemini-2.5-flash",
        source_protocol="openai_responses",
        raw={"input": [], "truncation": "auto", "safetySettings": "must not leak across protocols"},
        messages=[
            Message("developer", [Text("Follow the policy.")]),
            Message("user", [Text("Compare the two.")]),
            Message(
                "assistant",
                [
                    Reasoning(
                        "Need both prices.", redacted="gAAAAABencrypted", signature_family="openai", item_id="rs_1"
                    )
                ],
            ),
            Message("assistant", [ToolCall("call_1", "price", '{"sku": "A"}')]),
            Message("assistant", [ToolCall("call_2", "price", '{"sku": "B"}')]),
            Message("tool", [ToolResult("call_1", [Text('{"usd": 3}')], name="price")]),
            Message("tool", [ToolResult("call_2", [Text('{"usd": 4}')], name="price")]),
        ],
        tool_choice=ToolChoice("auto", allowed=["price"]),
        reasoning=ReasoningConfig(effort="low", summary="auto"),
        max_tokens=1000,
        store=False,
    )
    body = GEMINI.build_request(request, "gemini-2.5-flash").body
    assert "safetySettings" not in body and "truncation" not in body
    assert body["systemInstruction"] == {"parts": [{"text": "Follow the policy."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    model_turn = body["contents"][1]["parts"]
    assert model_turn == [
        {"functionCall": {"id": "call_1", "name": "price", "args": {"sku": "A"}}},
        {"functionCall": {"id": "call_2", "name": "price", "args": {"sku": "B"}}},
    ]
    assert [p["functionResponse"]["response"] for p in body["contents"][2]["parts"]] == [
        {"result": '{"usd": 3}'},
        {"result": '{"usd": 4}'},
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED", "allowedFunctionNames": ["price"]}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 1000,
        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
    }


def test_gemini_3_signature_rule() -> None:
    def turn(*calls: ToolCall) -> list[Any]:
        request = UnifiedRequest(
            model="m",
            source_protocol="openai_chat",
            messages=[Message("user", [Text("go")]), Message("assistant", list(calls))],
        )
        gemini_3 = GEMINI.build_request(request, "gemini-3-pro-preview").body["contents"][1]["parts"]
        gemini_25 = GEMINI.build_request(request, "gemini-2.5-flash").body["contents"][1]["parts"]
        return [p.get("thoughtSignature") for p in gemini_3] + ["|"] + [p.get("thoughtSignature") for p in gemini_25]

    signed_a = ToolCall("a", "f", "{}", signature="SIG_A", signature_family="gemini")
    signed_b = ToolCall("b", "f", "{}", signature="SIG_B", signature_family="gemini")
    plain = ToolCall("c", "f", "{}")
    foreign = ToolCall("d", "f", "{}", signature="anthropic-sig", signature_family="anthropic")
    assert turn(signed_a, signed_b) == ["SIG_A", None, "|", "SIG_A", "SIG_B"]
    assert turn(plain) == [SKIP_SIGNATURE, "|", None]
    assert turn(foreign) == [SKIP_SIGNATURE, "|", None]
    assert turn(plain, signed_b) == [SKIP_SIGNATURE, None, "|", None, "SIG_B"]


def test_build_thinking_disabled() -> None:
    def thinking(model: str) -> Any:
        request = UnifiedRequest(
            model="m",
            messages=[Message("user", [Text("hi")])],
            reasoning=ReasoningConfig(enabled=False),
            source_protocol="anthropic_messages",
        )
        return GEMINI.build_request(request, model).body["generationConfig"]["thinkingConfig"]

    assert thinking("gemini-2.5-flash") == {"thinkingBudget": 0}
    assert thinking("gemini-2.5-pro") == {"thinkingBudget": 128}  # 2.5 Pro cannot stop thinking
    assert thinking("gemini-3-pro-preview") == {"thinkingLevel": "low"}


def test_build_count_tokens() -> None:
    plain = GEMINI.parse_request(
        {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]},
        model="gemini-2.5-flash",
        operation="count_tokens",
    )
    native = GEMINI.build_count_tokens(plain, "gemini-2.5-flash")
    assert native is not None and native.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert native.body == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]} and not native.stream
    wrapped = GEMINI.parse_request(
        load("count_tokens_request.json"), model="gemini-2.5-flash", operation="count_tokens"
    )
    native = GEMINI.build_count_tokens(wrapped, "gemini-2.5-flash")
    assert native is not None
    inner = native.body["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert inner["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert inner["tools"][0]["functionDeclarations"][0]["name"] == "lookup"


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([Message("user", [Media("file", file_id="file-abc123")])], "file id"),
        ([Message("user", [Media("image", data="AAAA")])], "media type"),
        ([Message("tool", [ToolResult("call_unknown", [Text("x")])])], "function name"),
        ([Message("assistant", [ToolCall("c", "f", "{not json")])], "not valid JSON"),
        ([Message("assistant", [ToolCall("c", "f", "[1, 2]")])], "JSON object"),
        ([Message("system", [Media("image", url="https://example.com/a.png")])], "only text"),
    ],
)
def test_build_rejects_what_gemini_cannot_express(messages: list[Message], match: str) -> None:
    request = UnifiedRequest(model="m", messages=messages, source_protocol="openai_chat")
    with pytest.raises(GatewayError, match=match) as caught:
        GEMINI.build_request(request, "gemini-2.5-flash")
    assert caught.value.status == 400


# -- parse upstream answers ----------------------------------------------------------------------------------


def test_parse_response_text_with_thoughts() -> None:
    response = GEMINI.parse_response(load("response_text.json"))
    thought, text = response.parts
    assert isinstance(thought, Reasoning) and thought.text.startswith("**Recalling") and thought.signature is None
    assert isinstance(text, Text) and text.text == "The capital of France is Paris."
    assert (text.signature, text.signature_family) == ("CiQB0e2Kb7hs0Lq1aX2v9WwJ3xZkP4s=", "gemini")
    assert (response.stop_reason, response.native_stop_reason) == ("stop", "STOP")
    assert (response.model, response.upstream_id, response.id) == ("gemini-2.5-flash", "fT0kaOqgB4Wb1dkP9Yq9sAk", "")
    # promptTokenCount includes the cached tokens; candidatesTokenCount excludes the thoughts.
    assert response.usage == Usage(input_tokens=186, output_tokens=140, cache_read_tokens=1024, reasoning_tokens=131)
    assert response.usage.total_tokens == 1350


def test_parse_response_tool_calls() -> None:
    response = GEMINI.parse_response(load("response_tool_calls.json"))
    paris, lyon, clock = response.tool_calls
    assert paris.id.startswith("call_") and (paris.signature, paris.signature_family) == (
        "Cr8CAdHtim9Qc1qUUCbm2Tm6nR0m+pKZ0RzQ==",
        "gemini",
    )
    assert lyon.id == "gx7k2" and lyon.signature is None
    assert json.loads(lyon.arguments) == {"city": "Lyon", "unit": "celsius"}
    assert clock.name == "get_time" and clock.arguments == "{}" and clock.id not in (paris.id, lyon.id)
    # A STOP whose answer holds function calls is tool_use.
    assert (response.stop_reason, response.native_stop_reason) == ("tool_use", "STOP")
    assert response.usage == Usage(input_tokens=96, output_tokens=107, reasoning_tokens=66)


def test_parse_blocked_prompt() -> None:
    response = GEMINI.parse_response(load("response_blocked.json"))
    assert response.parts == [] and response.stop_reason == "content_filter"
    assert response.native_stop_reason == "PROHIBITED_CONTENT"


@pytest.mark.parametrize("body", [{}, {"candidates": []}, {"candidates": ["x"]}])
def test_parse_invalid_response(body: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as caught:
        GEMINI.parse_response(body)
    assert caught.value.kind == "upstream_invalid" and caught.value.status == 502


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("OTHER", "error"),
        ("SOMETHING_NEW", "unknown"),
    ],
)
def test_finish_reason_mapping(native: str, expected: str) -> None:
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": native}]}
    response = GEMINI.parse_response(body)
    assert (response.stop_reason, response.native_stop_reason) == (expected, native)


def test_provider_cost_is_read() -> None:
    body = {**load("response_text.json"), "cost": 0.00042}
    usage = GEMINI.parse_response(body).usage
    assert usage is not None and usage.provider_cost_usd == pytest.approx(0.00042)


# -- format client answers -----------------------------------------------------------------------------------


def unified_answer() -> UnifiedResponse:
    return UnifiedResponse(
        id="resp_gateway123",
        model="upstream-model-v7",
        parts=[
            Reasoning("Thinking about it.", signature="gemini-thought-sig", signature_family="gemini"),
            Text("Checking Paris.", signature="gemini-text-sig", signature_family="gemini"),
            ToolCall(
                "call_x", "get_weather", '{"city": "Paris"}', signature="gemini-call-sig", signature_family="gemini"
            ),
            ToolCall("call_y", "get_weather", '{"city": "Lyon"}'),
        ],
        stop_reason="tool_use",
        native_stop_reason="tool_calls",
        usage=Usage(input_tokens=10, output_tokens=30, cache_read_tokens=90, reasoning_tokens=12),
        upstream_id="chatcmpl-upstream",
    )


def test_format_response_validated_by_the_sdk() -> None:
    request = client_request()
    body = GEMINI.format_response(unified_answer(), request)
    assert body["responseId"] == "resp_gateway123" and body["modelVersion"] == "gemini-2.5-flash"
    parts = body["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "Thinking about it.", "thought": True, "thoughtSignature": "gemini-thought-sig"}
    assert parts[2]["thoughtSignature"] == "gemini-call-sig" and "thoughtSignature" not in parts[3]
    sdk = sdk_response(body)
    assert sdk.text == "Checking Paris."  # thought parts are not answer text
    assert [(c.id, c.name, c.args) for c in sdk.function_calls or []] == [
        ("call_x", "get_weather", {"city": "Paris"}),
        ("call_y", "get_weather", {"city": "Lyon"}),
    ]
    assert sdk.candidates and sdk.candidates[0].finish_reason == genai_types.FinishReason.STOP
    usage = sdk.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (100, 90)
    assert (usage.candidates_token_count, usage.thoughts_token_count, usage.total_token_count) == (18, 12, 130)
    assert sdk.response_id == "resp_gateway123" and sdk.model_version == "gemini-2.5-flash"


def test_format_response_through_the_sdk_client() -> None:
    body = GEMINI.format_response(unified_answer(), client_request())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    answer = sdk_client(handler).models.generate_content(model="gemini-2.5-flash", contents="weather?")
    assert answer.function_calls and answer.function_calls[1].args == {"city": "Lyon"}
    assert answer.candidates and answer.candidates[0].content and answer.candidates[0].content.parts
    assert answer.candidates[0].content.parts[0].thought is True
    assert seen[0].url.path.endswith("/models/gemini-2.5-flash:generateContent")


def test_format_drops_other_families_state() -> None:
    response = UnifiedResponse(
        id="resp_1",
        model="claude",
        parts=[
            Reasoning("Visible thinking.", signature="anthropic-sig", signature_family="anthropic"),
            Reasoning(redacted="opaque-redacted", signature_family="anthropic"),
            Reasoning("", redacted="gAAAA-encrypted", signature_family="openai"),
            Text("Done."),
            ToolCall("toolu_1", "f", "{}", signature="openai-sig", signature_family="openai"),
        ],
        stop_reason="stop",
    )
    body = GEMINI.format_response(response, client_request())
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "Visible thinking.", "thought": True},
        {"text": "Done."},
        {"functionCall": {"id": "toolu_1", "name": "f", "args": {}}},
    ]
    assert body["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" not in body
    sdk_response(body)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("stop", "STOP"),
        ("tool_use", "STOP"),
        ("max_tokens", "MAX_TOKENS"),
        ("content_filter", "SAFETY"),
        ("error", "OTHER"),
        ("incomplete", "MAX_TOKENS"),
        ("unknown", "STOP"),
    ],
)
def test_format_stop_reasons(stop: Any, finish: str) -> None:
    response = UnifiedResponse(id="resp_1", model="m", parts=[], stop_reason=stop)
    body = GEMINI.format_response(response, client_request())
    assert body["candidates"][0]["finishReason"] == finish
    assert body["candidates"][0]["content"] == {"role": "model"}
    sdk_response(body)


def test_format_rejects_unparseable_upstream_arguments() -> None:
    response = UnifiedResponse(id="r", model="m", parts=[ToolCall("c", "f", '{"a": ')], stop_reason="tool_use")
    with pytest.raises(GatewayError) as caught:
        GEMINI.format_response(response, client_request())
    assert caught.value.kind == "upstream_invalid"


# -- errors and token counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("invalid_request", 400, "INVALID_ARGUMENT"),
        ("authentication", 401, "UNAUTHENTICATED"),
        ("permission", 403, "PERMISSION_DENIED"),
        ("not_found", 404, "NOT_FOUND"),
        ("rate_limit", 429, "RESOURCE_EXHAUSTED"),
        ("server_error", 502, "UNAVAILABLE"),
        ("no_credentials", 503, "UNAVAILABLE"),
        ("timeout", 504, "DEADLINE_EXCEEDED"),
        ("internal", 500, "INTERNAL"),
    ],
)
def test_error_body(kind: Any, code: int, status: str) -> None:
    body = GEMINI.format_error(GatewayError(kind, "Something happened."))
    assert body == {"error": {"code": code, "message": "Something happened.", "status": status}}


def test_error_body_raised_by_the_sdk_with_retry_info() -> None:
    error = GatewayError("rate_limit", "Every credential is cooling down.", retry_after=12.5)
    body = GEMINI.format_error(error)
    assert parse_retry_after({}, body) == 12.5  # the gateway's own classifier reads it back

    client = sdk_client(lambda request: httpx.Response(429, json=body))
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.message == "Every credential is cooling down."


def test_error_body_names_the_field() -> None:
    with pytest.raises(GatewayError) as caught:
        GEMINI.parse_request({"contents": "nope"}, model="gemini-2.5-flash")
    body = GEMINI.format_error(caught.value)["error"]
    assert body["code"] == 400 and body["status"] == "INVALID_ARGUMENT" and "'contents'" in body["message"]
    assert body["details"][0]["fieldViolations"][0]["field"] == "contents"


def test_upstream_error_classification() -> None:
    error = GEMINI.upstream_error(429, load("error_429.json"))
    assert error.kind == "rate_limit" and error.retry_after == 37.0 and error.upstream_status == 429
    listed = GEMINI.upstream_error(400, [{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}])
    assert listed.kind == "invalid_request"


def test_count_tokens_round_trip() -> None:
    body = GEMINI.format_count_tokens(31)
    assert body == {"totalTokens": 31}
    assert genai_types.CountTokensResponse.model_validate(body).total_tokens == 31
    assert (
        GEMINI.parse_count_tokens({"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]})
        == 31
    )
    assert GEMINI.parse_count_tokens({}) == 0  # proto3 JSON leaves zero out
    with pytest.raises(GatewayError):
        GEMINI.parse_count_tokens({"totalTokens": "31"})


# -- stream parser -------------------------------------------------------------------------------------------


def test_stream_parser_tools_transcript() -> None:
    events = parse_stream("stream_tools.sse")
    kinds = [e.kind for e in events]
    assert kinds == [
        "start",
        "reasoning",
        "text",
        "text",
        "tool_call_start",
        "tool_call_delta",
        "tool_call_start",
        "tool_call_delta",
        "usage",
        "end",
    ]
    start = events[0]
    assert (start.id, start.name) == ("x1IkaLWnEYqP1dkPr8O44AM", "gemini-2.5-flash")
    assert "".join(e.text for e in events if e.kind == "text") == "Let me check both cities."
    first, second = (e for e in events if e.kind == "tool_call_start")
    assert (first.index, first.name, first.signature, first.signature_family) == (
        0,
        "get_weather",
        "Cr8CAdHtim9Qc1qUUCbm2Tm6nR0m",
        "gemini",
    )
    assert (second.index, second.signature) == (1, None)
    assert first.id and second.id and first.id != second.id and first.id.startswith("call_")
    deltas = [e for e in events if e.kind == "tool_call_delta"]
    assert [(d.index, json.loads(d.text)) for d in deltas] == [
        (0, {"city": "Paris"}),
        (1, {"city": "Lyon", "unit": "celsius"}),
    ]
    end = events[-1]
    assert (end.stop_reason, end.native_stop_reason) == ("tool_use", "STOP")
    assert end.usage == events[-2].usage == Usage(input_tokens=84, output_tokens=106, reasoning_tokens=66)


def test_stream_parser_thinking_transcript() -> None:
    events = parse_stream("stream_thinking.sse")
    assert [e.kind for e in events] == [
        "start",
        "reasoning",
        "reasoning_signature",
        "text",
        "text",
        "text_signature",
        "usage",
        "end",
    ]
    signature = events[2]
    assert (signature.signature, signature.signature_family) == ("EqQDCqEDAdHtim8Gv1Yh0a6Yl3kQ==", "gemini")
    closing = events[5]
    assert (closing.signature, closing.signature_family) == ("ErADCq0DAdHtim_final_sig==", "gemini")
    assert events[-1].stop_reason == "stop"
    assert events[-1].usage == Usage(input_tokens=102, output_tokens=227, cache_read_tokens=2048, reasoning_tokens=210)


def test_stream_parser_early_eof_is_an_error() -> None:
    events = parse_stream("stream_truncated.sse")
    assert [e.kind for e in events] == ["start", "text", "text", "error"]
    assert isinstance(events[-1].error, GatewayError) and events[-1].error.kind == "server_error"


def test_stream_parser_in_band_error() -> None:
    parser = GEMINI.stream_parser()
    events: list[StreamEvent] = []
    for event, data in sse_events("stream_error.sse"):
        events += parser.feed(event, data)
    assert [e.kind for e in events] == ["start", "text", "text", "error"]
    error = events[-1].error
    assert error.kind == "server_error" and error.details == {"native_type": "unavailable"}
    assert "overloaded" in error.message
    assert parser.feed(None, '{"candidates": []}') == [] and parser.finish() == []


def test_stream_parser_quota_error_and_bad_chunks() -> None:
    parser = GEMINI.stream_parser()
    (event,) = parser.feed(None, json.dumps(load("error_429.json")))
    assert event.kind == "error" and event.error.kind == "rate_limit" and event.error.retry_after == 37.0
    parser = GEMINI.stream_parser()
    (event,) = parser.feed(None, "{not json")
    assert event.kind == "error" and event.error.kind == "upstream_invalid"


def test_stream_parser_blocked_prompt_is_a_terminal() -> None:
    parser = GEMINI.stream_parser()
    events = parser.feed(None, json.dumps(load("response_blocked.json")))
    assert [e.kind for e in events] == ["start", "usage", "end"]
    assert (events[-1].stop_reason, events[-1].native_stop_reason) == ("content_filter", "PROHIBITED_CONTENT")
    assert parser.finish() == []


# -- stream formatter ----------------------------------------------------------------------------------------


def full_event_sequence() -> list[StreamEvent]:
    usage = Usage(input_tokens=40, output_tokens=25, cache_read_tokens=8, reasoning_tokens=9)
    return [
        StreamEvent("start", id="msg_upstream", name="claude-sonnet"),
        StreamEvent("start", id="msg_retry", name="claude-sonnet"),  # a retry before output: ignored
        StreamEvent("reasoning", text="Thinking"),
        StreamEvent("reasoning", text=" hard."),
        StreamEvent("reasoning_signature", signature="gemini-thought-sig", signature_family="gemini"),
        StreamEvent("text", text="Checking "),
        StreamEvent("text", text="Paris."),
        StreamEvent("text_signature", signature="gemini-text-sig", signature_family="gemini"),
        StreamEvent(
            "tool_call_start",
            index=0,
            id="call_p",
            name="get_weather",
            signature="gemini-call-sig",
            signature_family="gemini",
        ),
        StreamEvent("tool_call_delta", index=0, text='{"ci'),
        StreamEvent("tool_call_delta", index=0, text='ty": "Par'),
        StreamEvent("tool_call_delta", index=0, text='is"}'),
        StreamEvent("tool_call_start", index=1, id="call_n", name="get_time"),
        StreamEvent("usage", usage=usage),
        StreamEvent("end", stop_reason="tool_use", native_stop_reason="tool_use"),
    ]


def test_stream_formatter_full_sequence() -> None:
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw42")
    frames = [f for event in full_event_sequence() for f in formatter.feed(event)]
    chunks = [f.data for f in frames]
    assert all(isinstance(c, dict) and f.event is None for c, f in zip(chunks, frames, strict=True))
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]  # type: ignore[index]
    assert parts == [
        [{"text": "Thinking", "thought": True}],
        [{"text": " hard.", "thought": True}],
        [{"text": "", "thought": True, "thoughtSignature": "gemini-thought-sig"}],
        [{"text": "Checking "}],
        [{"text": "Paris."}],
        [{"text": "", "thoughtSignature": "gemini-text-sig"}],
        # Fragments are buffered into one whole call, as Gemini carries them.
        [
            {
                "functionCall": {"id": "call_p", "name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "gemini-call-sig",
            }
        ],
        [{"functionCall": {"id": "call_n", "name": "get_time", "args": {}}}],
        [{"text": ""}],
    ]
    last = chunks[-1]
    assert isinstance(last, dict) and last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 48,
        "candidatesTokenCount": 16,
        "totalTokenCount": 73,
        "cachedContentTokenCount": 8,
        "thoughtsTokenCount": 9,
    }
    for chunk in chunks:
        assert isinstance(chunk, dict)
        assert chunk["responseId"] == "resp_gw42" and chunk["modelVersion"] == "gemini-2.5-flash"
        sdk_response(chunk)
    assert formatter.feed(StreamEvent("text", text="late")) == []


def test_stream_formatter_through_the_sdk_client() -> None:
    """The SDK's own SSE reader takes the stream, CRLF framing and blank-line heartbeats included."""
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw42")
    frames = [f for event in full_event_sequence() for f in formatter.feed(event)]
    payload = sse_bytes(frames, heartbeat=formatter.heartbeat)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("alt") == "sse"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

    chunks = list(sdk_client(handler).models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert len(chunks) == len(frames)
    assert "".join(c.text or "" for c in chunks) == "Checking Paris."
    calls = [call for c in chunks for call in c.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"}), ("get_time", {})]
    final = chunks[-1]
    assert final.candidates and final.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert final.usage_metadata and final.usage_metadata.total_token_count == 73


def test_stream_formatter_error_terminal() -> None:
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw43")
    events = [
        StreamEvent("start", id="x", name="y"),
        StreamEvent("text", text="Once upon"),
        StreamEvent("tool_call_start", index=0, id="call_1", name="f"),
        StreamEvent("tool_call_delta", index=0, text='{"a": '),
        StreamEvent("error", error=GatewayError("server_error", "Upstream died mid-stream.")),
    ]
    frames = [f for event in events for f in formatter.feed(event)]
    assert frames[-1].data == {"error": {"code": 502, "message": "Upstream died mid-stream.", "status": "UNAVAILABLE"}}
    # The unfinished call is never shown, and nothing claims success.
    assert all("finishReason" not in json.dumps(f.data) and "functionCall" not in json.dumps(f.data) for f in frames)
    assert formatter.feed(StreamEvent("end", stop_reason="stop")) == []

    payload = sse_bytes(frames)
    client = sdk_client(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=payload)
    )
    seen: list[str] = []
    with pytest.raises(genai_errors.ServerError) as caught:
        for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            seen.append(chunk.text or "")
    assert seen == ["Once upon"] and caught.value.code == 502 and caught.value.status == "UNAVAILABLE"


def test_stream_formatter_without_start() -> None:
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw44")
    (frame,) = formatter.feed(StreamEvent("error", error=GatewayError("rate_limit", "Slow down.", retry_after=3)))
    assert isinstance(frame.data, dict) and frame.data["error"]["status"] == "RESOURCE_EXHAUSTED"

    formatter = GEMINI.stream_formatter(client_request(), "resp_gw45")
    assert formatter.feed(StreamEvent("usage", usage=Usage(input_tokens=3, output_tokens=0))) == []
    (frame,) = formatter.feed(StreamEvent("end", stop_reason="max_tokens"))
    assert isinstance(frame.data, dict)
    assert frame.data["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert frame.data["usageMetadata"]["promptTokenCount"] == 3
    sdk_response(frame.data)


def test_stream_formatter_invalid_arguments_fail_closed() -> None:
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw46")
    frames = formatter.feed(StreamEvent("tool_call_start", index=0, id="call_1", name="f"))
    frames += formatter.feed(StreamEvent("tool_call_delta", index=0, text='{"a": 1'))
    frames += formatter.feed(StreamEvent("end", stop_reason="tool_use"))
    (frame,) = frames
    assert isinstance(frame.data, dict) and frame.data["error"]["code"] == 502
    assert formatter.feed(StreamEvent("end", stop_reason="tool_use")) == []


def test_stream_formatter_drops_other_families_signatures() -> None:
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw47")
    events = [
        StreamEvent("reasoning", text="Thinking."),
        StreamEvent("reasoning_signature", signature="anthropic-sig", signature_family="anthropic"),
        StreamEvent("reasoning_redacted", text="opaque"),
        StreamEvent("text_signature", signature="openai-sig", signature_family="openai"),
        StreamEvent(
            "tool_call_start", index=0, id="c", name="f", signature="anthropic-sig", signature_family="anthropic"
        ),
        StreamEvent("tool_call_delta", index=0, text="{}"),
        StreamEvent("end", stop_reason="tool_use"),
    ]
    frames = [f for event in events for f in formatter.feed(event)]
    assert "sig" not in json.dumps([f.data for f in frames])
    assert len(frames) == 3


def test_stream_round_trip_through_parser_and_formatter() -> None:
    """Gemini upstream to Gemini client: the signatures survive, the ids are the gateway's."""
    formatter = GEMINI.stream_formatter(client_request(), "resp_gw48")
    frames = [f for event in parse_stream("stream_tools.sse") for f in formatter.feed(event)]
    chunks = [f.data for f in frames if isinstance(f.data, dict)]
    assert len(chunks) == len(frames) and all(c["responseId"] == "resp_gw48" for c in chunks)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    signed = [p for p in parts if "functionCall" in p and "thoughtSignature" in p]
    assert [p["functionCall"]["args"] for p in signed] == [{"city": "Paris"}]
