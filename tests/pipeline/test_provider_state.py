"""The built-in provider-state rules: reasoning continuity for clients whose protocol cannot carry the state,
scoped to provider + model + credential + session, never across families."""

from __future__ import annotations

import pytest

from asgi_rotator.config.models import FieldCacheRule
from asgi_rotator.pipeline import BUILTIN_RULES, CacheContext, FieldCache
from asgi_rotator.protocols import get_protocol
from asgi_rotator.protocols.unified import (
    Message,
    Reasoning,
    StreamEvent,
    Text,
    ToolCall,
    ToolResult,
    UnifiedRequest,
    UnifiedResponse,
)
from asgi_rotator.state import MemoryBackend
from asgi_rotator.state.keys import Keyspace


def ctx(protocol, client="openai_chat", *, session="s1", credential="c1", model="m"):
    return CacheContext("up", model, get_protocol(protocol), get_protocol(client), credential, session, None, None)


def engine(backend=None, rules=()):
    return FieldCache(backend or MemoryBackend(), Keyspace("t:"), rules_by_provider={"up": list(rules)})


def next_turn(*assistant_parts):
    calls = [p for p in assistant_parts if isinstance(p, ToolCall)]
    return UnifiedRequest(
        "m",
        [
            Message("user", [Text("look it up")]),
            Message("assistant", list(assistant_parts)),
            Message("user", [ToolResult(c.id, [Text("found")]) for c in calls]),
        ],
        source_protocol="openai_chat",
    )


def stream(*events):
    return [StreamEvent("start", id="r", name="m"), *events, StreamEvent("end", stop_reason="tool_use")]


async def remember(fc, context, response=None, events=None):
    if events is None:
        return await fc.extract_response(context, {}, response)
    collector = fc.stream_collector(context)
    for event in events:
        collector.unified_event(event)
    return await collector.complete()


GEMINI_ANSWER = UnifiedResponse(
    "r",
    "m",
    [
        Reasoning("thinking", signature="thought-sig", signature_family="gemini"),
        ToolCall("call_a", "lookup", "{}", signature="sig-a", signature_family="gemini"),
        ToolCall("call_b", "lookup", "{}"),  # Gemini signs only the first of parallel calls
    ],
    stop_reason="tool_use",
)
GEMINI_EVENTS = stream(
    StreamEvent("reasoning", text="thinking"),
    StreamEvent("reasoning_signature", signature="thought-sig", signature_family="gemini"),
    StreamEvent("tool_call_start", index=0, id="call_a", name="lookup", signature="sig-a", signature_family="gemini"),
    StreamEvent("tool_call_delta", index=0, text="{}"),
    StreamEvent("tool_call_start", index=1, id="call_b", name="lookup"),
)


@pytest.mark.parametrize("streamed", [False, True])
async def test_gemini_thought_signatures_round_trip(streamed):
    fc = engine()
    first = ctx("gemini")
    assert fc.rule_names(first) == ("gemini_thought_signatures",)
    assert await remember(fc, first, GEMINI_ANSWER, GEMINI_EVENTS if streamed else None) == 1
    request = next_turn(ToolCall("call_a", "lookup"), ToolCall("call_b", "lookup"))
    sent = await fc.inject_unified(ctx("gemini"), request)
    call_a, call_b = sent.messages[1].parts
    assert (call_a.signature, call_a.signature_family) == ("sig-a", "gemini")
    assert call_b.signature is None
    assert request.messages[1].parts[0].signature is None  # the caller's request is untouched
    assert sent.messages[0] is request.messages[0]  # only what changed is copied


async def test_gemini_signature_is_not_overwritten_and_not_shared_across_scopes_or_families():
    backend = MemoryBackend()
    fc = engine(backend)
    await remember(fc, ctx("gemini"), GEMINI_ANSWER)
    own = ToolCall("call_a", "lookup", signature="client-sig", signature_family="gemini")
    assert (await fc.inject_unified(ctx("gemini"), next_turn(own))).messages[1].parts[0].signature == "client-sig"
    for other in (
        ctx("gemini", session="s2"),
        ctx("gemini", credential="c2"),
        ctx("gemini", model="other"),
        ctx("gemini", client="gemini"),  # a Gemini client carries the signature itself
        ctx("anthropic_messages"),  # another family never gets Gemini state
        ctx("openai_responses"),
    ):
        request = next_turn(ToolCall("call_a", "lookup"))
        sent = await fc.inject_unified(other, request)
        assert sent is request and sent.messages[1].parts[0].signature is None, other


async def test_gemini_client_does_not_pay_for_its_own_family():
    fc = engine()
    same = ctx("gemini", client="gemini")
    assert fc.rule_names(same) == ()
    assert await remember(fc, same, GEMINI_ANSWER) == 0
    assert not fc.stream_collector(same).wants_unified


ANTHROPIC_ANSWER = UnifiedResponse(
    "r",
    "m",
    [
        Reasoning("Let me look.", signature="sig-think", signature_family="anthropic"),
        Reasoning("", redacted="opaque-data", signature_family="anthropic"),
        Text("Checking."),
        ToolCall("toolu_1", "lookup", "{}"),
        ToolCall("toolu_2", "lookup", "{}"),
    ],
    stop_reason="tool_use",
)
ANTHROPIC_EVENTS = stream(
    StreamEvent("reasoning", text="Let me "),
    StreamEvent("reasoning", text="look."),
    StreamEvent("reasoning_signature", signature="sig-think", signature_family="anthropic"),
    StreamEvent("reasoning_redacted", signature="opaque-data", signature_family="anthropic"),
    StreamEvent("text", text="Checking."),
    StreamEvent("tool_call_start", index=0, id="toolu_1", name="lookup"),
    StreamEvent("tool_call_delta", index=0, text="{}"),
    StreamEvent("tool_call_start", index=1, id="toolu_2", name="lookup"),
)


@pytest.mark.parametrize("client", ["openai_chat", "gemini", "openai_responses"])
@pytest.mark.parametrize("streamed", [False, True])
async def test_anthropic_thinking_blocks_round_trip(client, streamed):
    fc = engine()
    assert (
        await remember(fc, ctx("anthropic_messages", client), ANTHROPIC_ANSWER, ANTHROPIC_EVENTS if streamed else None)
        == 1
    )
    request = next_turn(Text("Checking."), ToolCall("toolu_1", "lookup"), ToolCall("toolu_2", "lookup"))
    sent = await fc.inject_unified(ctx("anthropic_messages", client), request)
    thinking, redacted, text, *_ = sent.messages[1].parts
    assert thinking == Reasoning("Let me look.", signature="sig-think", signature_family="anthropic")
    assert redacted == Reasoning("", redacted="opaque-data", signature_family="anthropic")
    assert text == Text("Checking.") and len(sent.messages[1].parts) == 5
    assert len(request.messages[1].parts) == 3


async def test_anthropic_blocks_only_for_answers_with_tools_and_messages_without_them():
    fc = engine()
    no_tools = UnifiedResponse("r", "m", [Reasoning("x", signature="s", signature_family="anthropic"), Text("hi")])
    assert await remember(fc, ctx("anthropic_messages"), no_tools) == 0
    await remember(fc, ctx("anthropic_messages"), ANTHROPIC_ANSWER)
    kept = Reasoning("client kept it", signature="client-sig", signature_family="anthropic")
    request = next_turn(kept, ToolCall("toolu_1", "lookup"))
    assert await fc.inject_unified(ctx("anthropic_messages"), request) is request
    # the key is the answer's first call, found whichever of the message's calls comes first
    request = next_turn(ToolCall("toolu_2", "lookup"), ToolCall("toolu_1", "lookup"))
    assert len((await fc.inject_unified(ctx("anthropic_messages"), request)).messages[1].parts) == 4
    for other in (
        ctx("anthropic_messages", "anthropic_messages"),
        ctx("gemini"),
        ctx("anthropic_messages", session="s2"),
    ):
        request = next_turn(ToolCall("toolu_1", "lookup"))
        assert await fc.inject_unified(other, request) is request, other


RESPONSES_ANSWER = UnifiedResponse(
    "r",
    "m",
    [
        Reasoning("summary", redacted="enc-1", item_id="rs_1", signature_family="openai"),
        ToolCall("call_r", "lookup", "{}"),
    ],
    stop_reason="tool_use",
)
RESPONSES_EVENTS = stream(
    StreamEvent("reasoning", text="summary"),
    StreamEvent("reasoning_redacted", signature="enc-1", signature_family="openai"),
    StreamEvent("tool_call_start", index=0, id="call_r", name="lookup"),
)


@pytest.mark.parametrize("streamed", [False, True])
async def test_responses_encrypted_reasoning_round_trip(streamed):
    fc = engine()
    assert await remember(fc, ctx("openai_responses"), RESPONSES_ANSWER, RESPONSES_EVENTS if streamed else None) == 1
    sent = await fc.inject_unified(ctx("openai_responses"), next_turn(ToolCall("call_r", "lookup")))
    block = sent.messages[1].parts[0]
    assert (block.redacted, block.signature_family) == ("enc-1", "openai")
    assert block.item_id == (None if streamed else "rs_1")
    for other in (ctx("openai_responses", "openai_responses"), ctx("openai_chat"), ctx("anthropic_messages")):
        request = next_turn(ToolCall("call_r", "lookup"))
        assert await fc.inject_unified(other, request) is request, other


def test_each_protocol_carries_only_its_own_family_state():
    carried = {name: get_protocol(name).carries_state for name in ("anthropic_messages", "gemini", "openai_responses")}
    assert carried == {"anthropic_messages": "anthropic", "gemini": "gemini", "openai_responses": "openai"}
    assert get_protocol("openai_chat").carries_state is None


def test_builtins_are_rules_with_the_required_scope():
    assert [r.name for r in BUILTIN_RULES] == [
        "gemini_thought_signatures",
        "anthropic_thinking_blocks",
        "responses_encrypted_reasoning",
    ]
    for rule in BUILTIN_RULES:
        assert isinstance(rule, FieldCacheRule) and rule.mode == "per_tool_call"
        assert rule.scope == ["provider", "model", "credential", "session"] and rule.ttl_seconds == 3600
        assert rule.source == "unified_response" and rule.inject.target == "unified_request"


async def test_config_may_turn_off_or_replace_a_builtin_by_name():
    off = FieldCacheRule.model_validate(
        {
            "name": "gemini_thought_signatures",
            "enabled": False,
            "source": "response",
            "path": "x",
            "inject": {"path": "x"},
        }
    )
    fc = engine(rules=[off])
    assert fc.rule_names(ctx("gemini")) == ()
    assert await remember(fc, ctx("gemini"), GEMINI_ANSWER) == 0
    replacement = FieldCacheRule.model_validate(
        {
            "name": "gemini_thought_signatures",
            "source": "unified_response",
            "mode": "per_tool_call",
            "path": "signature",
            "tool_container_path": "parts[type=tool_call]",
            "tool_call_id_path": "id",
            "inject": {
                "target": "unified_request",
                "tool_container_path": "messages[*].parts[type=tool_call]",
                "path": "extra.kept_signature",
            },
        }
    )
    fc = engine(rules=[replacement])
    assert fc.rule_names(ctx("gemini")) == ("gemini_thought_signatures",)
    await remember(fc, ctx("gemini"), GEMINI_ANSWER)
    sent = await fc.inject_unified(ctx("gemini"), next_turn(ToolCall("call_a", "lookup")))
    assert sent.messages[1].parts[0].extra == {"kept_signature": "sig-a"}
