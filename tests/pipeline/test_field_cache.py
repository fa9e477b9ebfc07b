"""Field-cache rules: every mode, raw and unified sources and targets, scopes, fail-closed cases, bounds, and
streams cached only once complete."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from asgi_rotator import ConfigError
from asgi_rotator.config.loader import load_config
from asgi_rotator.config.models import FieldCacheRule
from asgi_rotator.pipeline import CacheContext, FieldCache, validate_rules
from asgi_rotator.protocols import get_protocol
from asgi_rotator.protocols.unified import Message, StreamEvent, Text, UnifiedRequest, UnifiedResponse
from asgi_rotator.state import MemoryBackend
from asgi_rotator.state.keys import Keyspace

from ..clock import FakeClock


def rule(**fields):
    base = {"name": "r", "source": "response", "path": "token", "inject": {"path": "token"}}
    return FieldCacheRule.model_validate({**base, **fields})


def ctx(session="s1", credential="c1", *, scope=None, conversation=None, client="openai_chat", protocol="openai_chat"):
    return CacheContext(
        "p", "m", get_protocol(protocol), get_protocol(client), credential, session, conversation, scope
    )


def cache(*rules, backend=None):
    return FieldCache(
        backend or MemoryBackend(), Keyspace("t:"), rules_by_provider={"p": list(rules)}, builtin_rules=()
    )


def unified_response(**fields):
    return UnifiedResponse("resp_1", "m", **fields)


async def roundtrip(fc, answer, body=None, *, first=None, second=None):
    """Extract ``answer`` (a raw response body) in one exchange, inject into ``body`` in the next."""
    await fc.extract_response(first or ctx(), answer, unified_response())
    body = {} if body is None else body
    changed = await fc.inject_raw(second or ctx(), body)
    return body, changed


async def test_last_overwrites_and_injects_the_last_value():
    fc = cache(rule(path="items[*].token"))
    await fc.extract_response(ctx(), {"items": [{"token": "a"}, {"token": "b"}]}, unified_response())
    body, changed = await roundtrip(fc, {"items": [{"token": "c"}]})
    assert body == {"token": "c"} and changed == 1
    listed = cache(rule(path="token", inject={"path": "meta.tokens", "as_list": True}))
    body, _ = await roundtrip(listed, {"token": "x"})
    assert body == {"meta": {"tokens": ["x"]}}


async def test_all_appends_bounded_by_max_values_and_max_bytes():
    fc = cache(rule(mode="all", max_values=3, inject={"path": "tokens"}))
    for token in "abcd":
        await fc.extract_response(ctx(), {"token": token}, unified_response())
    body, _ = await roundtrip(fc, {"other": 1})
    assert body == {"tokens": ["b", "c", "d"]}
    small = cache(rule(mode="all", max_bytes=8, inject={"path": "tokens"}))  # each value is 5 bytes of JSON
    for token in ("aaa", "bbb", "ccc"):
        await small.extract_response(ctx(), {"token": token}, unified_response())
    body, _ = await roundtrip(small, {})
    assert body == {"tokens": ["ccc"]}  # the newest values that fit


async def test_when_missing_only_leaves_the_clients_value():
    fc = cache(rule(inject={"path": "token", "when_missing_only": True}))
    body, changed = await roundtrip(fc, {"token": "cached"}, {"token": "client"})
    assert body == {"token": "client"} and changed == 0


async def test_last_user_turn_reads_and_writes_the_turn():
    fc = cache(
        rule(source="request", mode="last_user_turn", path="attachment", inject={"path": "attachment"}),
    )
    first = ctx()
    await fc.inject_raw(first, {"messages": [{"role": "user", "attachment": "old"}, {"role": "user", "x": 1}]})
    await fc.extract_response(first, {}, unified_response())
    assert first.report == []  # the last user turn has no attachment: nothing stored
    first = ctx()
    sent = {"messages": [{"role": "user", "attachment": "file-1"}, {"role": "assistant", "content": "ok"}]}
    await fc.inject_raw(first, sent)
    await fc.extract_response(first, {}, unified_response())
    body = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}, {"role": "user", "content": "b"}]}
    assert await fc.inject_raw(ctx(), body) == 1
    assert body["messages"][2] == {"role": "user", "content": "b", "attachment": "file-1"}
    assert "attachment" not in body["messages"][0]


async def test_last_assistant_turn_injects_into_the_turn_or_skips():
    fc = cache(
        rule(
            mode="last_assistant_turn",
            path="choices[0].message.reasoning_content",
            inject={"path": "reasoning_content"},
        )
    )
    await fc.extract_response(ctx(), {"choices": [{"message": {"reasoning_content": "because"}}]}, unified_response())
    body = {"contents": [{"role": "model", "parts": []}]}
    gemini = cache(
        rule(
            mode="last_assistant_turn",
            path="choices[0].message.reasoning_content",
            inject={"path": "reasoning", "turn_container_path": "contents"},
        ),
        backend=fc._backend,
    )
    assert await gemini.inject_raw(ctx(), body) == 1 and body["contents"][0]["reasoning"] == "because"
    no_turn = ctx()
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert await fc.inject_raw(no_turn, body) == 0 and "reasoning_content" not in str(body)
    assert no_turn.report == [
        {"rule": "r", "stage": "inject_raw", "outcome": "skipped", "reason": "turn_context_not_found"}
    ]


DEEPSEEK = {
    "name": "deepseek_reasoning",
    "path": "choices[0].message.reasoning_content",
    "mode": "per_tool_call",
    "tool_call_id_path": "choices[0].message.tool_calls[0].id",
    "inject": {
        "tool_container_path": "messages[*]",
        "tool_call_id_path": "tool_calls[*].id",
        "path": "reasoning_content",
        "when_missing_only": True,
    },
}


async def test_per_tool_call_keyed_by_the_first_call_of_an_answer():
    fc = cache(rule(**DEEPSEEK))
    answer = {
        "choices": [
            {
                "message": {
                    "reasoning_content": "need the weather",
                    "tool_calls": [{"id": "call_7"}, {"id": "call_8"}],
                }
            }
        ]
    }
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "call_7"}, {"id": "call_8"}]},
            {"role": "tool", "tool_call_id": "call_7", "content": "sunny"},
            {"role": "assistant", "tool_calls": [{"id": "call_unknown"}]},
        ]
    }
    body, changed = await roundtrip(fc, answer, body)
    assert changed == 1 and body["messages"][1]["reasoning_content"] == "need the weather"
    assert "reasoning_content" not in body["messages"][3]


async def test_per_tool_call_with_a_container_keys_every_call():
    fc = cache(
        rule(
            path="sig",
            mode="per_tool_call",
            tool_container_path="calls",
            tool_call_id_path="id",
            inject={"tool_container_path": "history[*].calls", "path": "sig"},
        )
    )
    answer = {"calls": [{"id": "a", "sig": "sa"}, {"id": "b", "sig": "sb"}, {"id": "c"}]}
    body = {"history": [{"calls": [{"id": "b"}, {"id": "c"}]}, {"calls": [{"id": "a"}]}]}
    body, changed = await roundtrip(fc, answer, body)
    assert changed == 2 and body == {
        "history": [{"calls": [{"id": "b", "sig": "sb"}, {"id": "c"}]}, {"calls": [{"id": "a", "sig": "sa"}]}]
    }


async def test_per_tool_call_skips_ambiguous_values_and_missing_ids():
    fc = cache(rule(**{**DEEPSEEK, "path": "choices[*].message.reasoning_content"}))
    context = ctx()
    two_values = {
        "choices": [
            {"message": {"reasoning_content": "a", "tool_calls": [{"id": "x"}]}},
            {"message": {"reasoning_content": "b"}},
        ]
    }
    await fc.extract_response(context, two_values, unified_response())
    no_id = ctx()
    await fc.extract_response(no_id, {"choices": [{"message": {"reasoning_content": "a"}}]}, unified_response())
    assert [e["reason"] for e in (*context.report, *no_id.report)] == [
        "ambiguous_tool_call_values",
        "tool_call_id_not_found",
    ]


async def test_unified_sources_and_targets_copy_the_request():
    fc = cache(
        rule(
            name="upstream",
            source="unified_response",
            path="upstream_id",
            inject={"target": "metadata", "path": "previous_upstream"},
        ),
        rule(
            name="text",
            source="unified_response",
            path="parts[type=text][-1].text",
            inject={"target": "unified_request", "path": "prompt_cache_key"},
        ),
    )
    await fc.extract_response(ctx(), {}, unified_response(parts=[Text("hello")], upstream_id="up_1"))
    request = UnifiedRequest("m", [Message("user", [Text("hi")])], metadata={"client": "x"})
    context = ctx()
    sent = await fc.inject_unified(context, request)
    assert sent is not request and sent.metadata == {"client": "x", "previous_upstream": "up_1"}
    assert sent.prompt_cache_key == "hello" and sent.messages[0].text == "hi"
    assert request.metadata == {"client": "x"} and request.prompt_cache_key is None  # the caller's stays as sent
    assert {e["rule"] for e in context.report} == {"upstream", "text"}
    untouched = await fc.inject_unified(ctx(session="other"), request)
    assert untouched is request


async def test_request_sources_store_what_was_sent_only_after_success():
    fc = cache(
        rule(name="seed", source="request", path="seed", inject={"path": "seed", "when_missing_only": True}),
        rule(name="user", source="unified_request", path="user", inject={"target": "metadata", "path": "user"}),
    )
    failed = ctx()
    await fc.inject_unified(failed, UnifiedRequest("m", user="u-1"))
    await fc.inject_raw(failed, {"seed": 42})  # no extract: the attempt failed
    assert await fc.inject_raw(ctx(), body := {}) == 0 and body == {}
    ok = ctx()
    await fc.inject_unified(ok, UnifiedRequest("m", user="u-1"))
    await fc.inject_raw(ok, {"seed": 42})
    await fc.extract_response(ok, {}, unified_response())
    body = {}
    assert await fc.inject_raw(ctx(), body) == 1 and body == {"seed": 42}
    assert (await fc.inject_unified(ctx(), UnifiedRequest("m"))).metadata == {"user": "u-1"}


async def test_scopes_are_isolated_between_sessions_credentials_and_client_scopes():
    fc = cache(rule())
    await fc.extract_response(ctx(session="s1", credential="c1"), {"token": "mine"}, unified_response())
    for other in (ctx(session="s2"), ctx(credential="c2"), ctx(scope="team-a")):
        assert await fc.inject_raw(other, body := {}) == 0 and body == {}
    assert await fc.inject_raw(ctx(), body := {}) == 1 and body == {"token": "mine"}
    per_conversation = cache(rule(scope=["provider", "conversation"]))
    await per_conversation.extract_response(ctx(conversation="resp_a"), {"token": "a"}, unified_response())
    assert await per_conversation.inject_raw(ctx(session="s9", conversation="resp_b"), {}) == 0
    assert await per_conversation.inject_raw(ctx(session="s9", conversation="resp_a"), {}) == 1


async def test_fail_closed_without_credential_or_session():
    backend = MemoryBackend()
    fc = cache(rule(), backend=backend)
    no_credential, no_session = ctx(credential=None), ctx(session=None)
    await fc.extract_response(no_credential, {"token": "x"}, unified_response())
    await fc.extract_response(no_session, {"token": "x"}, unified_response())
    assert backend._values == {}  # no shared bucket
    assert [e["reason"] for e in (*no_credential.report, *no_session.report)] == [
        "missing_credential",
        "missing_session",
    ]
    lenient = cache(rule(name="lenient", allow_missing_session=True), backend=backend)
    await lenient.extract_response(ctx(session=None), {"token": "x"}, unified_response())
    assert await lenient.inject_raw(ctx(session=None), body := {}) == 1 and body == {"token": "x"}
    assert await lenient.inject_raw(ctx(session=None, credential=None), {}) == 0  # credential still required


async def test_keys_are_hashes_and_values_expire_and_bounds_hold():
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    fc = cache(rule(ttl_seconds=60, max_bytes=20), backend=backend)
    context = ctx(session="session-secret", credential="credential-secret")
    await fc.extract_response(context, {"token": "value-secret"}, unified_response())
    [key] = backend._values
    assert key.startswith("t:fc:") and len(key) == len("t:fc:") + 64 and "secret" not in key
    await fc.extract_response(context, {"token": "x" * 50}, unified_response())  # too large: not stored
    assert context.report[-1]["reason"] == "too_large"
    assert await fc.inject_raw(context, body := {}) == 1 and body == {"token": "value-secret"}
    clock.advance(61)
    assert await fc.inject_raw(context, {}) == 0


async def test_stream_values_are_stored_only_on_complete():
    fc = cache(
        rule(name="raw", source="stream_event", path="model", inject={"path": "metadata.model"}, cache_key="model"),
        rule(name="twin", source="response", path="model", inject={"path": "metadata.model"}, cache_key="model"),
        rule(
            name="calls",
            source="unified_stream_event",
            mode="per_tool_call",
            path="[type=tool_call_start].name",
            tool_call_id_path="[type=tool_call_start].id",
            inject={"tool_container_path": "messages[*].tool_calls", "path": "name", "when_missing_only": True},
        ),
    )
    abandoned = fc.stream_collector(ctx())
    assert abandoned.wants_raw and abandoned.wants_unified
    abandoned.raw_event({"model": "gone"})
    abandoned.unified_event(StreamEvent("tool_call_start", id="call_1", name="lost"))
    assert await fc.inject_raw(ctx(), {}) == 0  # never completed: nothing cached
    collector = fc.stream_collector(ctx())
    for model in ("m-1", "m-2"):
        collector.raw_event({"model": model, "choices": []})
    collector.unified_event(StreamEvent("tool_call_start", id="call_1", name="lookup"))
    collector.unified_event(StreamEvent("tool_call_delta", text="{}"))
    assert await collector.complete() == 2 and await collector.complete() == 0
    body = {"messages": [{"role": "assistant", "tool_calls": [{"id": "call_1"}]}]}
    assert await fc.inject_raw(ctx(), body) == 3  # both twins inject the shared value
    assert body["metadata"] == {"model": "m-2"} and body["messages"][0]["tool_calls"][0]["name"] == "lookup"
    await fc.extract_response(ctx(), {"model": "m-3"}, unified_response())  # the non-stream twin shares the value
    assert await fc.inject_raw(ctx(), body := {}) == 2 and body["metadata"] == {"model": "m-3"}


async def test_a_provider_without_rules_costs_a_lookup():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"backend.{name} used")

    fc = FieldCache(Untouchable(), Keyspace("t:"), rules_by_provider={"other": [rule()]}, builtin_rules=())
    context = ctx()
    request = UnifiedRequest("m")
    assert await fc.inject_unified(context, request) is request
    assert await fc.inject_raw(context, {}) == 0
    assert await fc.extract_response(context, {}, unified_response()) == 0
    collector = fc.stream_collector(context)
    collector.raw_event({})
    assert not collector.wants_raw and await collector.complete() == 0
    assert fc.rule_names(context) == () and context.report == []
    disabled = FieldCache(
        Untouchable(), Keyspace("t:"), rules_by_provider={"p": [rule(enabled=False)]}, builtin_rules=()
    )
    assert await disabled.inject_raw(ctx(), {}) == 0


async def test_continuation_guard():
    with pytest.raises(ConfigError, match="provider_continuation"):
        cache(rule(inject={"path": "Previous_Response_ID"}))
    fc = cache(
        rule(
            path="id",
            inject={"path": "previous_response_id", "when_missing_only": True},
            metadata={"provider_continuation": True},
        )
    )
    await fc.extract_response(ctx(), {"id": "resp_up"}, unified_response())
    assert await fc.inject_raw(ctx(), body := {}) == 1 and body == {"previous_response_id": "resp_up"}
    local = ctx(client="openai_responses", protocol="openai_responses")
    await fc.extract_response(local, {"id": "resp_up"}, unified_response())
    await fc.inject_unified(
        local,
        UnifiedRequest(
            "m", source_protocol="openai_responses", previous_response_id="resp_local", history_expanded=True
        ),
    )
    assert await fc.inject_raw(local, body := {}) == 0 and body == {}
    assert local.report[-1]["reason"] == "local_lineage"


def provider_config(rules):
    return load_config({"providers": {"p": {"protocol": "gemini", "base_url": "http://x", "field_cache": rules}}})


def test_validation_names_the_rule():
    valid = {"name": "ok", "source": "response", "path": "a", "inject": {"path": "b"}}
    with pytest.raises(ConfigError, match=r"providers.p.field_cache\[1\] \(bad\): malformed path"):
        validate_rules(provider_config([valid, {**valid, "name": "bad", "path": "a["}]))
    with pytest.raises(ConfigError, match="must keep"):
        validate_rules(provider_config([{**valid, "name": "gemini_thought_signatures", "scope": ["provider"]}]))
    validate_rules(provider_config([{**valid, "name": "gemini_thought_signatures", "enabled": False}]))
    for bad, message in [
        ({**valid, "name": "../x"}, "pattern"),
        ({**valid, "mode": "per_tool_call"}, "tool_call_id_path"),
        ({**valid, "mode": "per_tool_call", "tool_call_id_path": "id"}, "tool_container_path"),
        ({**valid, "mode": "last_user_turn"}, "source must be request"),
        ({**valid, "mode": "last_assistant_turn", "inject": {"target": "metadata", "path": "x"}}, "turn"),
        ({**valid, "scope": ["session", "session"]}, "twice"),
    ]:
        with pytest.raises((ConfigError, ValidationError), match=message):
            provider_config([bad])
    with pytest.raises(ConfigError, match="unique"):
        provider_config([valid, valid])
