"""Redaction at the trace boundary: by key name and by known secret value, always on a copy."""

from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from asgi_rotator.protocols.unified import Reasoning
from asgi_rotator.tracing import REDACTED, Redactor, normalize_key

SECRET = "sk-live-abcdefghijklmnop"
PROXY = "proxy/key+with=chars"


def test_key_names_are_normalized_to_kebab_case() -> None:
    assert normalize_key("thoughtSignature") == "thought-signature"
    assert normalize_key("api_key") == "api-key"
    assert normalize_key("X-Goog-Api-Key") == "x-goog-api-key"
    assert normalize_key("APIKey") == "api-key"
    assert normalize_key("encrypted_content") == "encrypted-content"


def test_redacts_by_key_name_at_any_depth_and_in_any_spelling() -> None:
    value = {
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k1", "x-goog-api-key": "k2", "Cookie": "c=1"},
        "body": {
            "apiKey": "k3",
            "client_secret": "k4",
            "refreshToken": "k5",
            "password": "k6",
            "credentials": [{"key": "k7"}],
            "messages": [
                {"content": [{"type": "thinking", "thinking": "visible", "signature": "sig"}]},
                {"content": [{"type": "redacted_thinking", "data": "opaque"}]},
                {"parts": [{"text": "hi", "thoughtSignature": "tsig"}]},
                {"type": "reasoning", "encrypted_content": "enc"},
            ],
            "max_tokens": 10,
            "token_count": 3,
        },
    }
    out = Redactor([]).redact(value)
    headers, body = out["headers"], out["body"]
    assert set(headers.values()) == {REDACTED}
    for name in ("apiKey", "client_secret", "refreshToken", "password", "credentials"):
        assert body[name] == REDACTED
    messages = body["messages"]
    assert messages[0]["content"][0] == {"type": "thinking", "thinking": REDACTED, "signature": REDACTED}
    assert messages[1]["content"][0] == {"type": "redacted_thinking", "data": REDACTED}
    assert messages[2]["parts"][0] == {"text": "hi", "thoughtSignature": REDACTED}
    assert messages[3]["encrypted_content"] == REDACTED
    assert body["max_tokens"] == 10 and body["token_count"] == 3


def test_key_is_redacted_only_when_it_holds_a_string() -> None:
    out = Redactor([]).redact({"query": {"key": "abc"}, "cache": {"key": {"scope": "model"}}, "key_id": "x"})
    assert out["query"]["key"] == REDACTED
    assert out["cache"]["key"] == {"scope": "model"}
    assert out["key_id"] == "x"


def test_redacts_known_secret_values_wherever_they_hide() -> None:
    redactor = Redactor([SECRET, PROXY, "short"])
    value = {
        "url": f"https://example.com/v1beta/models/m:generateContent?key={SECRET}&alt=sse",
        "error": f"401 Unauthorized: invalid key {SECRET[:3]}...{SECRET} given",
        "nested": [[f"Bearer {SECRET}"], ("tuple", SECRET)],
        "query": f"key={PROXY.replace('/', '%2F').replace('+', '%2B').replace('=', '%3D')}",
        SECRET: "as a key",
        "raw": f'{{"k": "{SECRET}"}}'.encode(),
        "ok": "short is too short to count",
    }
    out = redactor.redact(value)
    text = repr(out)
    assert SECRET not in text and "proxy%2Fkey" not in text
    assert out["url"] == f"https://example.com/v1beta/models/m:generateContent?key={REDACTED}&alt=sse"
    assert out["error"].endswith(f"{REDACTED} given")
    assert out["nested"] == [[f"Bearer {REDACTED}"], ["tuple", REDACTED]]
    assert out[REDACTED] == "as a key"
    assert out["raw"] == f'{{"k": "{REDACTED}"}}'
    assert out["ok"] == "short is too short to count"


def test_works_on_a_copy() -> None:
    value = {"authorization": "Bearer x", "items": [{"text": SECRET}]}
    out = Redactor([SECRET]).redact(value)
    assert value == {"authorization": "Bearer x", "items": [{"text": SECRET}]}
    assert out["items"] is not value["items"]


def test_unified_dataclasses_pydantic_secrets_and_other_objects_become_json_ready() -> None:
    @dataclasses.dataclass
    class Holder:
        note: str

    reasoning = Reasoning(text="thinking", signature="sig", redacted="opaque-state")
    out = Redactor([SECRET]).redact(
        {"part": reasoning, "secret_str": SecretStr("x"), "holder": Holder(SECRET), "other": object()}
    )
    assert out["part"]["__class__"] == "Reasoning"
    assert out["part"]["text"] == REDACTED  # reasoning text, hidden unless trace.show_reasoning
    assert out["part"]["signature"] == REDACTED and out["part"]["redacted"] == REDACTED
    assert out["secret_str"] == REDACTED
    assert out["holder"]["note"] == REDACTED
    assert isinstance(out["other"], str)
    assert reasoning.signature == "sig"


#: Reasoning text in every shape the four protocols (and OpenAI-compatible providers) carry it.
REASONING_SHAPES = {
    "chat_message": {"role": "assistant", "content": "answer", "reasoning_content": "R1"},
    "openrouter": {
        "reasoning": "R2",
        "reasoning_details": [{"type": "reasoning.text", "text": "R3", "signature": "S1"}],
    },
    "encrypted_detail": {"type": "reasoning.encrypted", "data": "S2"},
    "anthropic_block": {"type": "thinking", "thinking": "R4", "signature": "S3"},
    "anthropic_delta": {"type": "content_block_delta", "delta": {"type": "thinking_delta", "thinking": "R5"}},
    "anthropic_signature": {"type": "signature_delta", "signature": "S4"},
    "gemini_part": {"text": "R6", "thought": True, "thoughtSignature": "S5"},
    "responses_item": {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "R7"}],
        "content": [{"type": "reasoning_text", "text": "R8"}],
        "encrypted_content": "S6",
    },
    "responses_event": {"type": "response.reasoning_summary_text.delta", "delta": "R9"},
    "responses_done": {"type": "response.reasoning_text.done", "text": "R10"},
    "request": {"prompt_cache_key": "S7", "reasoning": {"effort": "high"}, "thinking": {"type": "enabled"}},
}


def test_reasoning_text_and_provider_state_are_redacted_in_every_shape() -> None:
    text = repr(Redactor([]).redact(REASONING_SHAPES))
    for n in range(1, 11):
        assert f"'R{n}'" not in text, f"R{n}"
    for n in range(1, 8):
        assert f"'S{n}'" not in text, f"S{n}"
    assert "'answer'" in text and "'high'" in text and "'enabled'" in text  # settings and answers stay


def test_show_reasoning_keeps_reasoning_text_but_never_provider_state() -> None:
    text = repr(Redactor([], show_reasoning=True).redact(REASONING_SHAPES))
    for n in range(1, 11):
        assert f"'R{n}'" in text, f"R{n}"
    for n in range(1, 8):
        assert f"'S{n}'" not in text, f"S{n}"


def test_nothing_to_do_leaves_values_equal() -> None:
    value = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "n": 1.5, "stream": True}
    assert Redactor([]).redact(value) == value
    assert Redactor([SECRET]).redact(value) == value
