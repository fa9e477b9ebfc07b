"""Adapters: each built-in, the chain's stages and model filters, the registry, and validation."""

from __future__ import annotations

import pytest

from asgi_rotator import ConfigError
from asgi_rotator.config.loader import load_config
from asgi_rotator.config.models import AdapterConfig
from asgi_rotator.pipeline import AdapterChain, AdapterContext, PayloadAdapter, builtin_adapters, validate_adapters
from asgi_rotator.protocols.base import NativeRequest
from asgi_rotator.protocols.unified import StreamEvent


def native(**body):
    return NativeRequest("/chat/completions", body)


def ctx(protocol="openai_chat", model="m"):
    return AdapterContext("p", model, protocol, "…1111", "s1", None)


BUILTINS = builtin_adapters()


def run(entries, request, *, protocol="openai_chat", model="m"):
    return AdapterChain.for_provider(entries, model, BUILTINS, provider="p").request(request, ctx(protocol, model))


def test_model_override_in_the_body_and_in_a_gemini_path():
    sent = run([{"name": "model_override", "config": {"model": "real"}}], native(model="alias"))
    assert sent.body["model"] == "real"
    gemini = NativeRequest("/v1beta/models/alias:streamGenerateContent", {"contents": []})
    sent = run([AdapterConfig(name="model_override", config={"model": "real"})], gemini, protocol="gemini")
    assert sent.path == "/v1beta/models/real:streamGenerateContent" and "model" not in sent.body


@pytest.mark.parametrize(
    ("mode", "roles"), [("system", ["system", "user"]), ("user", ["user", "user"]), ("drop", ["user"])]
)
def test_suppress_developer_role_on_chat_messages_and_responses_items(mode, roles):
    config = [{"name": "suppress_developer_role", "config": {"mode": mode}}]
    chat = run(config, native(messages=[{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]))
    assert [m["role"] for m in chat.body["messages"]] == roles
    items = [{"type": "message", "role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]
    responses = run(config, NativeRequest("/responses", {"input": items}), protocol="openai_responses")
    assert [i["role"] for i in responses.body["input"]] == roles
    assert items[0]["role"] == "developer"  # rewritten items are copies


def test_suppress_developer_role_defaults_to_system_and_leaves_other_bodies_alone():
    sent = run(["suppress_developer_role"], native(messages=[{"role": "developer", "content": "x"}]))
    assert sent.body["messages"][0]["role"] == "system"
    body = {"system": "be brief", "messages": [{"role": "user", "content": "hi"}]}
    assert run(["suppress_developer_role"], NativeRequest("/v1/messages", dict(body))).body == body


def test_reasoning_content_copies_and_never_deletes():
    chain = AdapterChain.for_provider(["reasoning_rewrite"], "m", BUILTINS)
    body = {
        "choices": [
            {"message": {"content": "4", "reasoning": "2+2"}},
            {"delta": {"thinking": "hmm"}},
            {"message": {"reasoning_content": "kept", "reasoning": "other"}},
        ]
    }
    out = chain.response(body, ctx())
    assert out["choices"][0]["message"] == {"content": "4", "reasoning": "2+2", "reasoning_content": "2+2"}
    assert out["choices"][1]["delta"] == {"thinking": "hmm", "reasoning_content": "hmm"}
    assert out["choices"][2]["message"]["reasoning_content"] == "kept"
    custom = AdapterChain.for_provider(
        [{"name": "reasoning_content", "config": {"output_field": "thoughts", "source_fields": ["reasoning_details"]}}],
        "m",
        BUILTINS,
    )
    body = {"choices": [{"message": {"reasoning_details": "r", "reasoning": "x"}}]}
    assert custom.response(body, ctx())["choices"][0]["message"]["thoughts"] == "r"
    assert not custom.has_request and custom.has_response


def test_field_rename_and_field_copy_on_requests_and_responses():
    entries = [
        {
            "name": "field_rename",
            "config": {
                "rules": [
                    {"source_path": "max_tokens", "target_path": "max_completion_tokens", "move": True},
                    {"source_path": "messages[-1].content", "target_path": "metadata.last", "when_missing_only": True},
                    {"source_path": "tools[*].function.name", "target_path": "metadata.tools", "as_list": True},
                    {"source_path": "usage.cost", "target_path": "usage.provider_cost", "stage": "response"},
                ]
            },
        }
    ]
    request = native(
        max_tokens=5,
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"function": {"name": "a"}}, {"function": {"name": "b"}}],
    )
    sent = run(entries, request)
    assert sent.body == {
        "max_completion_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"function": {"name": "a"}}, {"function": {"name": "b"}}],
        "metadata": {"last": "hi", "tools": ["a", "b"]},
    }
    chain = AdapterChain.for_provider(entries, "m", BUILTINS)
    assert chain.response({"usage": {"cost": 0.5}}, ctx()) == {"usage": {"cost": 0.5, "provider_cost": 0.5}}
    copy_rule = {"source_path": "a", "target_path": "b", "when_missing_only": True}
    kept = run([{"name": "field_copy", "config": {"rules": [copy_rule]}}], native(a=1, b=2))
    assert kept.body == {"a": 1, "b": 2}


def test_drop_params_takes_paths():
    sent = run(
        [{"name": "drop_params", "config": {"params": ["seed", "stream_options.include_usage", "tools[*].strict"]}}],
        native(seed=1, stream_options={"include_usage": True}, tools=[{"strict": True, "n": 1}, {"n": 2}]),
    )
    assert sent.body == {"stream_options": {}, "tools": [{"n": 1}, {"n": 2}]}


def test_set_headers_sets_and_removes():
    request = NativeRequest("/v1/messages", {}, headers={"Anthropic-Beta": "x", "anthropic-version": "2023-06-01"})
    sent = run([{"name": "set_headers", "config": {"headers": {"X-Extra": 1, "anthropic-beta": None}}}], request)
    assert sent.headers == {"anthropic-version": "2023-06-01", "x-extra": "1"}


def test_chain_order_model_filter_stages_and_custom_adapters():
    registry = builtin_adapters()

    @registry.register
    class Shout(PayloadAdapter):
        name = "test_shout"
        aliases = ("test_yell",)
        stages = frozenset({"request", "stream_event"})

        def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> NativeRequest:
            return NativeRequest(native.path, {**native.body, "shout": ctx.config.get("level", 1)})

        def transform_stream_event(self, event: StreamEvent, ctx: AdapterContext) -> StreamEvent | None:
            return None if event.kind == "reasoning" else StreamEvent(event.kind, text=event.text.upper())

    entries = [
        {"name": "test_yell", "config": {"level": 3}, "models": ["loud"]},
        {"name": "model_override", "config": {"model": "after"}},
    ]
    quiet = AdapterChain.for_provider(entries, "quiet", registry)
    assert quiet.names == ("model_override",) and not quiet.has_stream
    loud = AdapterChain.for_provider(entries, "loud", registry)
    assert loud.names == ("test_shout", "model_override") and loud.has_stream and not loud.has_response
    assert loud.request(native(model="m"), ctx()).body == {"model": "after", "shout": 3}
    assert loud.stream_event(StreamEvent("text", text="hi"), ctx()).text == "HI"
    assert loud.stream_event(StreamEvent("reasoning", text="x"), ctx()) is None
    assert not AdapterChain.for_provider([], "m", registry)
    registry.register(Shout)  # the same class again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register(type("Other", (PayloadAdapter,), {"name": "test_shout"}))
    registry.register(type("Other", (PayloadAdapter,), {"name": "test_shout"}), replace=True)
    assert registry.get("test_shout").__name__ == "Other" and registry.get("test_yell") is Shout
    # Registries are per app: the built-ins another app gets know nothing of this one's adapters.
    with pytest.raises(KeyError):
        builtin_adapters().get("test_shout")


def config(adapters):
    return load_config(
        {"providers": {"p": {"protocol": "openai_chat", "base_url": "http://x/v1", "adapters": adapters}}}
    )


@pytest.mark.parametrize(
    ("adapters", "message"),
    [
        (["no_such_adapter"], r"providers.p.adapters\[0\]: unknown adapter 'no_such_adapter'"),
        ([{"name": "suppress_developer_role", "config": {"mode": "shout"}}], "mode must be one of"),
        (["model_override"], "needs model"),
        ([{"name": "field_rename", "config": {"rules": [{"source_path": "a[", "target_path": "b"}]}}], "malformed"),
        ([{"name": "drop_params", "config": {"params": "seed"}}], "list of paths"),
        ([{"name": "set_headers", "config": {"headers": {"x": []}}}], "headers"),
    ],
)
def test_validation_names_the_field(adapters, message):
    with pytest.raises(ConfigError, match=message):
        validate_adapters(config(adapters), BUILTINS)


def test_for_provider_rejects_unknown_names():
    with pytest.raises(ConfigError, match=r"providers.up.adapters\[1\]"):
        AdapterChain.for_provider(["drop_params", "nope"], "m", BUILTINS, provider="up")
    copy_rule = {"source_path": "a", "target_path": "b"}
    validate_adapters(config(["drop_params", {"name": "field_copy", "config": {"rules": [copy_rule]}}]), BUILTINS)
