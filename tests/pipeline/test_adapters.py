"""Adapters: unit behaviour of each built-in, and a configured chain driven through the openai SDK."""

from __future__ import annotations

import openai
import pytest

from asgi_rotator import ConfigError, RotatorASGI
from asgi_rotator.pipeline.adapters import AdapterContext, PayloadAdapter, chain_for, register_adapter
from asgi_rotator.protocols.base import NativeRequest

from ..conftest import PROXY_KEY


def native(**body):
    return NativeRequest("/chat/completions", body)


def test_builtins_on_the_request():
    chain = chain_for(
        [
            {"name": "model_override", "config": {"model": "real-model"}},
            {"name": "suppress_developer_role", "config": {"mode": "user"}},
            {"name": "drop_params", "config": {"params": ["seed", "stream_options.include_usage"]}},
            {
                "name": "field_rename",
                "config": {
                    "rules": [{"source_path": "max_tokens", "target_path": "max_completion_tokens", "move": True}]
                },
            },
            {"name": "set_headers", "config": {"headers": {"X-Extra": "1"}}},
        ],
        provider="p",
        model="m",
        protocol="openai_chat",
    )
    request = native(
        model="m",
        seed=1,
        max_tokens=5,
        stream_options={"include_usage": True},
        messages=[{"role": "developer", "content": "be kind"}, {"role": "user", "content": "hi"}],
    )
    chain.request(request)
    assert request.body == {
        "model": "real-model",
        "max_completion_tokens": 5,
        "stream_options": {},
        "messages": [{"role": "user", "content": "be kind"}, {"role": "user", "content": "hi"}],
    }
    assert request.headers == {"x-extra": "1"}


def test_reasoning_content_copies_and_never_deletes():
    chain = chain_for(["reasoning_rewrite"], provider="p", model="m", protocol="openai_chat")
    body = {"choices": [{"message": {"content": "4", "reasoning": "2+2"}}]}
    assert chain.response(body)["choices"][0]["message"] == {
        "content": "4",
        "reasoning": "2+2",
        "reasoning_content": "2+2",
    }


def test_model_filter_and_custom_adapters():
    @register_adapter
    class Shout(PayloadAdapter):
        name = "test_shout"

        def transform_request(self, request: NativeRequest, ctx: AdapterContext) -> None:
            request.body["messages"][0]["content"] = request.body["messages"][0]["content"].upper()

    entries = [{"name": "test_shout", "models": ["loud"]}]
    assert chain_for(entries, provider="p", model="quiet", protocol="openai_chat").steps == []
    request = native(messages=[{"role": "user", "content": "hi"}])
    chain_for(entries, provider="p", model="loud", protocol="openai_chat").request(request)
    assert request.body["messages"][0]["content"] == "HI"
    with pytest.raises(ValueError, match="already registered"):
        register_adapter(type("Other", (PayloadAdapter,), {"name": "test_shout"}))


def test_unknown_adapter_fails_at_construction():
    with pytest.raises(ConfigError, match=r"providers.p.adapters\[0\]"):
        RotatorASGI(
            {
                "providers": {
                    "p": {"protocol": "openai_chat", "base_url": "http://x/v1", "adapters": ["no_such_adapter"]}
                }
            }
        )


def test_configured_chain_reaches_the_upstream(gateway, fake):
    base = gateway(
        {
            "providers": {
                "up": {
                    "protocol": "openai_chat",
                    "base_url": "{fake}/v1",
                    "credentials": ["sk-adapt-1111"],
                    "adapters": [
                        {"name": "drop_params", "config": {"params": ["seed"]}},
                        {"name": "suppress_developer_role", "config": {"mode": "system"}},
                        {"name": "set_headers", "config": {"headers": {"x-provider-flag": "on"}}},
                    ],
                }
            }
        }
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(
            model="up/m",
            seed=7,
            messages=[{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}],
        )
    received = fake.requests[-1]
    assert "seed" not in received.body and received.body["messages"][0]["role"] == "system"
    assert received.headers["x-provider-flag"] == "on"
