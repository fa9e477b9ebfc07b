"""Provider-side golden transcripts: what the real APIs send, read by this package's provider protocols.

Every fixture under ``tests/fixtures/golden`` was taken from a provider's documentation, an official SDK's test
fixtures or a public client's recorded transcripts (each file names its ``source``); none was produced by this
package, so a mistake made the same way in a formatter and a parser cannot hide here.
"""

from __future__ import annotations

import array
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from asgi_rotator.protocols import get_protocol
from asgi_rotator.protocols.unified import Reasoning, StreamEvent, Text, UnifiedResponse, Usage
from asgi_rotator.sse import SSEDecoder

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"


def golden(name: str) -> dict[str, Any]:
    fixture = json.loads((GOLDEN / f"{name}.json").read_text())
    assert fixture["source"] and fixture["note"]
    return fixture


def parse(protocol: str, name: str) -> UnifiedResponse:
    fixture = golden(name)
    assert fixture["status"] == 200
    return get_protocol(protocol).parse_response(fixture["body"])


def stream(protocol: str, name: str, chunk_size: int = 61) -> list[StreamEvent]:
    """Feed the recorded SSE bytes to the project's decoder in network-sized pieces, then to the parser."""
    raw = golden(name)["sse"].encode()
    decoder, parser = SSEDecoder(), get_protocol(protocol).stream_parser()
    events: list[StreamEvent] = []
    for i in range(0, len(raw), chunk_size):
        for event, data in decoder.feed(raw[i : i + chunk_size]):
            events += parser.feed(event, data)
    for event, data in decoder.flush():
        events += parser.feed(event, data)
    return events + parser.finish()


def streamed_text(events: list[StreamEvent], kind: str = "text") -> str:
    return "".join(e.text for e in events if e.kind == kind)


def last_usage(events: list[StreamEvent]) -> Usage | None:
    usages = [e.usage for e in events if e.kind == "usage"]
    return usages[-1] if usages else None


def usage_tuple(usage: Usage | None) -> tuple[int, int, int, int, int]:
    assert usage is not None
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    )


def sse_data(name: str, event_type: str) -> list[dict[str, Any]]:
    """The JSON payloads of one event type in a named-event SSE fixture."""
    payloads = []
    for block in golden(name)["sse"].split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == event_type:
            payloads.append(json.loads(lines["data"]))
    return payloads


# -- errors ---------------------------------------------------------------------------------------------------

ERRORS = [
    # (protocol, fixture, kind)
    ("openai_chat", "openai_chat/error_400_context_length_exceeded", "context_window_exceeded"),
    ("openai_chat", "openai_chat/error_429_insufficient_quota", "quota_exceeded"),
    ("openai_chat", "openai_chat/error_429_rate_limit_exceeded", "rate_limit"),
    ("openai_chat", "openai_chat/error_500_server_error", "server_error"),
    ("openai_chat", "openai_chat/error_503_model_overloaded", "server_error"),
    ("anthropic_messages", "anthropic_messages/error_401_authentication", "authentication"),
    ("anthropic_messages", "anthropic_messages/error_403_permission", "permission"),
    ("anthropic_messages", "anthropic_messages/error_404_not_found", "not_found"),
    ("anthropic_messages", "anthropic_messages/error_429_rate_limit", "rate_limit"),
    ("anthropic_messages", "anthropic_messages/error_500_api_error", "server_error"),
    ("anthropic_messages", "anthropic_messages/error_529_overloaded", "server_error"),
    ("gemini", "gemini/error_403_permission_denied", "permission"),
    ("gemini", "gemini/error_403_permission_denied_suspended", "permission"),
    ("gemini", "gemini/error_404_model_not_found", "not_found"),
    ("gemini", "gemini/error_429_quota_per_minute", "rate_limit"),
    ("gemini", "gemini/error_429_retry_info_sdk", "rate_limit"),
    ("gemini", "gemini/error_500_internal", "server_error"),
    ("gemini", "gemini/error_503_overloaded", "server_error"),
]


@pytest.mark.parametrize(("protocol", "name", "kind"), ERRORS, ids=[e[1] for e in ERRORS])
def test_real_error_bodies_are_classified(protocol: str, name: str, kind: str) -> None:
    fixture = golden(name)
    error = get_protocol(protocol).upstream_error(fixture["status"], fixture["body"], fixture["headers"])
    assert error.kind == kind
    assert error.upstream_status == fixture["status"]


@pytest.mark.parametrize(
    ("protocol", "name", "seconds"),
    [
        ("anthropic_messages", "anthropic_messages/error_429_rate_limit", 17.0),  # retry-after header
        ("gemini", "gemini/error_429_quota_per_minute", 26.0),  # RetryInfo.retryDelay "26s"
        ("gemini", "gemini/error_429_retry_info_sdk", 34.4),  # fractional "34.4s"
        ("gemini", "gemini/error_503_model_capacity_exhausted", 40.0),
    ],
)
def test_retry_after_from_real_answers(protocol: str, name: str, seconds: float) -> None:
    fixture = golden(name)
    error = get_protocol(protocol).upstream_error(fixture["status"], fixture["body"], fixture["headers"])
    assert error.retry_after == pytest.approx(seconds)


def test_openai_rate_limit_wait_comes_from_the_reset_headers() -> None:
    fixture = golden("openai_chat/error_429_rate_limit_exceeded")
    error = get_protocol("openai_chat").upstream_error(fixture["status"], fixture["body"], fixture["headers"])
    # x-ratelimit-reset-requests "1s", x-ratelimit-reset-tokens "6m0s": the exhausted budget is tokens.
    assert error.retry_after == pytest.approx(360.0)


def test_anthropic_in_stream_overloaded_error_is_an_error_terminal_after_output() -> None:
    events = stream("anthropic_messages", "anthropic_messages/stream_error_overloaded")
    assert streamed_text(events) == "Hello"
    assert events[-1].kind == "error"
    assert events[-1].error.kind == "server_error"
    assert not any(e.kind == "end" for e in events)


# -- OpenAI Chat -----------------------------------------------------------------------------------------------


def test_chat_logprobs_answer() -> None:
    response = parse("openai_chat", "openai_chat/response_logprobs")
    assert response.text == "Hello! How can I assist you today?"
    assert response.stop_reason == "stop"
    assert usage_tuple(response.usage) == (9, 9, 0, 0, 0)


def test_chat_current_reference_answer_with_service_tier() -> None:
    response = parse("openai_chat", "openai_chat/response_service_tier_annotations")
    assert response.text == "Hello! How can I assist you today?"
    assert usage_tuple(response.usage) == (19, 10, 0, 0, 0)


def test_chat_n3_answer_reads_the_first_choice_and_usage() -> None:
    response = parse("openai_chat", "openai_chat/response_n3_system_fingerprint")
    assert response.text == '{"city":"San Francisco","temperature":64,"units":"f"}'
    assert usage_tuple(response.usage) == (79, 44, 0, 0, 0)


def test_chat_url_citation_answer_text() -> None:
    response = parse("openai_chat", "openai_chat/response_url_citation")
    assert response.text.startswith("A positive news story from today")
    assert response.stop_reason == "stop"


def test_chat_stream_with_logprobs_and_final_usage_chunk() -> None:
    raw = golden("openai_chat/stream_logprobs_usage")["sse"]
    assert raw.rstrip().endswith("data: [DONE]")
    events = stream("openai_chat", "openai_chat/stream_logprobs_usage")
    assert streamed_text(events) == "Foo!"
    assert usage_tuple(last_usage(events)) == (9, 2, 0, 0, 0)
    assert events[-1].kind == "end"
    assert events[-1].stop_reason == "stop"


# -- OpenAI Responses ------------------------------------------------------------------------------------------


def test_responses_web_search_answer_text_and_canonical_usage() -> None:
    body = golden("openai_responses/response_web_search")["body"]
    response = parse("openai_responses", "openai_responses/response_web_search")
    message = next(item for item in body["output"] if item["type"] == "message")
    assert response.text == "".join(part["text"] for part in message["content"] if part["type"] == "output_text")
    # input_tokens 19681 with cached_tokens 3712; output_tokens 3773 include reasoning_tokens 3136.
    assert usage_tuple(response.usage) == (15969, 3773, 3712, 0, 3136)
    assert response.stop_reason == "stop"


def test_responses_reasoning_item_keeps_encrypted_content_and_item_id() -> None:
    body = golden("openai_responses/response_reasoning_encrypted")["body"]
    item = next(item for item in body["output"] if item["type"] == "reasoning")
    response = parse("openai_responses", "openai_responses/response_reasoning_encrypted")
    reasoning = [p for p in response.parts if isinstance(p, Reasoning)]
    assert reasoning[0].redacted == item["encrypted_content"]
    assert reasoning[0].item_id == item["id"]
    assert reasoning[0].signature_family == "openai"


def test_responses_docs_web_search_answer() -> None:
    response = parse("openai_responses", "openai_responses/response_docs_web_search")
    assert response.text == "As of today, March 9, 2025, one notable positive news story..."
    assert usage_tuple(response.usage) == (328, 356, 0, 0, 0)


def test_responses_web_search_stream() -> None:
    events = stream("openai_responses", "openai_responses/stream_web_search")
    done = sse_data("openai_responses/stream_web_search", "response.output_text.done")
    assert streamed_text(events) == "".join(d["text"] for d in done)
    assert usage_tuple(last_usage(events)) == (27361, 4416, 3712, 0, 3712)
    assert events[-1].kind == "end"
    assert events[-1].native_stop_reason == "completed"


def test_responses_stream_reasoning_encrypted_content_and_tool_call() -> None:
    events = stream("openai_responses", "openai_responses/stream_reasoning_encrypted")
    done = [d["item"] for d in sse_data("openai_responses/stream_reasoning_encrypted", "response.output_item.done")]
    reasoning_item = next(item for item in done if item["type"] == "reasoning")
    call_item = next(item for item in done if item["type"] == "function_call")
    redacted = [e for e in events if e.kind == "reasoning_redacted"]
    assert [(e.signature, e.signature_family) for e in redacted] == [(reasoning_item["encrypted_content"], "openai")]
    starts = [e for e in events if e.kind == "tool_call_start"]
    assert [(e.id, e.name) for e in starts] == [(call_item["call_id"], call_item["name"])]
    assert json.loads(streamed_text(events, "tool_call_delta")) == json.loads(call_item["arguments"])
    assert events[-1].kind == "end"
    assert events[-1].stop_reason == "tool_use"


# -- Anthropic Messages ----------------------------------------------------------------------------------------


def test_anthropic_web_search_answer_text_and_usage() -> None:
    body = golden("anthropic_messages/response_web_search")["body"]
    response = parse("anthropic_messages", "anthropic_messages/response_web_search")
    assert response.text == "".join(block["text"] for block in body["content"] if block["type"] == "text")
    assert response.tool_calls == []  # server tools ran upstream; nothing for the client to execute
    assert usage_tuple(response.usage) == (27118, 600, 0, 0, 0)
    assert response.native_stop_reason == "end_turn"


def test_anthropic_web_search_stream_text_and_usage() -> None:
    events = stream("anthropic_messages", "anthropic_messages/stream_web_search")
    deltas = sse_data("anthropic_messages/stream_web_search", "content_block_delta")
    assert streamed_text(events) == "".join(d["delta"]["text"] for d in deltas if d["delta"]["type"] == "text_delta")
    assert not any(e.kind.startswith("tool_call") for e in events)
    start = sse_data("anthropic_messages/stream_web_search", "message_start")[0]["message"]["usage"]
    final = sse_data("anthropic_messages/stream_web_search", "message_delta")[-1]["usage"]
    # With server tools the search results are billed as input after message_start (2037), so the final
    # message_delta carries the cumulative input (15665): that, not message_start's, is the billed figure.
    assert final["input_tokens"] > start["input_tokens"]
    assert usage_tuple(last_usage(events)) == (final["input_tokens"], final["output_tokens"], 0, 0, 0)
    assert events[-1].kind == "end"


def test_anthropic_thinking_stream_with_signature_delta() -> None:
    events = stream("anthropic_messages", "anthropic_messages/stream_thinking_signature")
    deltas = [d["delta"] for d in sse_data("anthropic_messages/stream_thinking_signature", "content_block_delta")]
    thinking = "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    signature = next(d["signature"] for d in deltas if d["type"] == "signature_delta")
    assert streamed_text(events, "reasoning") == thinking
    signatures = [e for e in events if e.kind == "reasoning_signature"]
    assert [(e.signature, e.signature_family) for e in signatures] == [(signature, "anthropic")]
    assert streamed_text(events) == "925 ÷ 5 = 185"
    assert usage_tuple(last_usage(events)) == (69, 53, 0, 0, 0)
    assert events[-1].kind == "end"
    assert events[-1].stop_reason == "stop"


# -- Gemini ----------------------------------------------------------------------------------------------------


def test_gemini_thought_signature_answer() -> None:
    body = golden("gemini/response_thought_signature")["body"]
    response = parse("gemini", "gemini/response_thought_signature")
    part = body["candidates"][0]["content"]["parts"][0]
    assert response.text == part["text"]
    text = next(p for p in response.parts if isinstance(p, Text))
    assert (text.signature, text.signature_family) == (part["thoughtSignature"], "gemini")
    # promptTokenCount 9; output = candidatesTokenCount 29 + thoughtsTokenCount 258.
    assert usage_tuple(response.usage) == (9, 287, 0, 0, 258)
    assert response.stop_reason == "stop"


def test_gemini_usage_with_cached_content_and_thoughts() -> None:
    response = parse("gemini", "gemini/response_safety_cached")
    # promptTokenCount 1200 includes cachedContentTokenCount 1000; output 50 + thoughts 30.
    assert usage_tuple(response.usage) == (200, 80, 1000, 0, 30)
    assert response.text == "Hello!"


@pytest.mark.parametrize("name", ["gemini/response_grounding", "gemini/response_citation_metadata"])
def test_gemini_grounded_and_cited_answers_keep_their_text(name: str) -> None:
    body = golden(name)["body"]
    response = parse("gemini", name)
    assert response.text == body["candidates"][0]["content"]["parts"][0]["text"]


def test_gemini_sse_stream_with_crlf_and_thought_signature() -> None:
    fixture = golden("gemini/stream_thought_signature")
    assert "\r\n\r\n" in fixture["sse"]
    chunks = [json.loads(line[6:]) for line in fixture["sse"].split("\r\n") if line.startswith("data: ")]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    events = stream("gemini", "gemini/stream_thought_signature", chunk_size=13)
    assert streamed_text(events) == "".join(p.get("text", "") for p in parts)
    signatures = [e.signature for e in events if e.kind == "text_signature"]
    assert signatures == [p["thoughtSignature"] for p in parts if "thoughtSignature" in p]
    meta = chunks[-1]["usageMetadata"]
    expected = (meta["promptTokenCount"], meta["candidatesTokenCount"] + meta["thoughtsTokenCount"], 0, 0)
    assert usage_tuple(last_usage(events))[:4] == expected
    assert events[-1].kind == "end"
    assert events[-1].native_stop_reason == "STOP"


# -- model lists and embeddings (shape checks against the official SDKs' types) ---------------------------------


def test_model_list_fixtures_match_the_official_sdk_types() -> None:
    from anthropic.types import ModelInfo
    from google.genai import types as genai_types
    from openai.types import Model

    for entry in golden("models/openai_list")["body"]["data"]:
        Model.model_validate(entry)
    anthropic_list = golden("models/anthropic_list")["body"]
    assert {"data", "has_more", "first_id", "last_id"} <= anthropic_list.keys()
    for entry in anthropic_list["data"]:
        ModelInfo.model_validate(entry)
    gemini_list = golden("models/gemini_list")["body"]
    assert gemini_list["nextPageToken"]
    for entry in gemini_list["models"]:
        assert entry["name"].startswith("models/")
        assert entry["supportedGenerationMethods"]
        genai_types.Model.model_validate(
            {"name": entry["name"], "display_name": entry["displayName"], "version": entry["version"]}
        )


def test_openai_embedding_fixtures_float_and_base64_agree() -> None:
    from openai.types import CreateEmbeddingResponse

    floats = golden("embeddings/openai_float")["body"]
    encoded = golden("embeddings/openai_base64")["body"]
    CreateEmbeddingResponse.model_validate(floats)
    for plain, packed in zip(floats["data"], encoded["data"], strict=True):
        decoded = array.array("f", base64.b64decode(packed["embedding"])).tolist()
        assert decoded == pytest.approx(plain["embedding"], rel=1e-6)


def test_gemini_embedding_fixtures_have_the_documented_shape() -> None:
    batch = golden("embeddings/gemini_batch_request")["request"]
    assert all(r["model"].startswith("models/") and r["content"]["parts"] for r in batch["requests"])
    answer = golden("embeddings/gemini_batch_response")["body"]
    assert len(answer["embeddings"]) == len(batch["requests"])
    assert golden("embeddings/gemini_embed_request")["request"]["content"]["parts"]
    assert golden("embeddings/gemini_embed_response")["body"]["embedding"]["values"]
