"""The pipeline through the gateway: configured adapters and field-cache rules reach the upstream, driven by the
openai SDK against FakeUpstream (these need the executor integration)."""

from __future__ import annotations

import anthropic
import openai
import pytest

from asgi_rotator import ConfigError, RotatorASGI
from asgi_rotator.pipeline import PayloadAdapter, builtin_adapters
from asgi_rotator.testing import Reply

from ..conftest import PROXY_KEY


def chat_provider(**settings):
    """A config with one OpenAI Chat provider ``up`` on the fake upstream."""
    return {"providers": {"up": {"protocol": "openai_chat", "base_url": "{fake}/v1", **settings}}}


def test_unknown_adapter_or_malformed_rule_fails_at_construction():
    with pytest.raises(ConfigError, match=r"providers.p.adapters\[0\]"):
        RotatorASGI(
            {
                "providers": {
                    "p": {"protocol": "openai_chat", "base_url": "http://x/v1", "adapters": ["no_such_adapter"]}
                }
            }
        )
    bad_rule = {"name": "bad", "source": "response", "path": "a[", "inject": {"path": "b"}}
    with pytest.raises(ConfigError, match=r"providers.p.field_cache\[0\]"):
        RotatorASGI(
            {"providers": {"p": {"protocol": "openai_chat", "base_url": "http://x/v1", "field_cache": [bad_rule]}}}
        )


def test_configured_chain_reaches_the_upstream(gateway, fake):
    base = gateway(
        chat_provider(
            credentials=["sk-adapt-1111"],
            adapters=[
                {"name": "drop_params", "config": {"params": ["seed"]}},
                {"name": "suppress_developer_role", "config": {"mode": "system"}},
                {"name": "set_headers", "config": {"headers": {"x-provider-flag": "on"}}},
            ],
        )
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


def test_rule_through_the_gateway_and_stream_values_only_after_completion(gateway, fake):
    base = gateway(
        chat_provider(
            credentials=["sk-fc-1111"],
            field_cache=[
                {
                    "name": "echo_model",
                    "source": "stream_event",
                    "path": "model",
                    "inject": {"path": "metadata.previous_model"},
                    "allow_missing_session": True,
                    "scope": ["provider", "credential"],
                }
            ],
        )
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        fake.script(Reply(text="cut short", drop_after=2))
        with pytest.raises(openai.APIError):
            list(client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "a"}], stream=True))
        client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "b"}])
        assert "metadata" not in fake.requests[-1].body  # the broken stream cached nothing
        list(client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "c"}], stream=True))
        client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "d"}])
    assert fake.requests[-1].body["metadata"] == {"previous_model": "m"}


def test_model_override_in_the_body_and_in_the_gemini_path(gateway, fake):
    override = [{"name": "model_override", "config": {"model": "m-2025-01-01"}, "models": ["m"]}]
    base = gateway(
        {
            "providers": {
                "chat": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-mo-1111"]}
                | {"adapters": override},
                "gem": {
                    "protocol": "gemini",
                    "base_url": "{fake}",
                    "credentials": ["sk-mo-2222"],
                    "adapters": override,
                },
            }
        }
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(model="chat/m", messages=[{"role": "user", "content": "hi"}])
        assert fake.requests[-1].body["model"] == "m-2025-01-01"
        assert reply.model == "chat/m"  # the client still sees the model it asked for
        client.chat.completions.create(model="gem/m", messages=[{"role": "user", "content": "hi"}])
        assert fake.requests[-1].path == "/v1beta/models/m-2025-01-01:generateContent"
        client.chat.completions.create(model="chat/other", messages=[{"role": "user", "content": "hi"}])
        assert fake.requests[-1].body["model"] == "other"  # the model filter holds


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_content_normalizes_a_providers_own_field(gateway, fake, stream):
    """An OpenAI-compatible provider that sends its reasoning as ``thinking``: the adapter copies it to
    ``reasoning_content``, so every client protocol gets it (here as Anthropic thinking)."""
    base = gateway(
        chat_provider(
            credentials=["sk-rc-1111"],
            adapters=["reasoning_content"],
        )
    )
    fake.script(Reply(text="4", reasoning="2 and 2", rename={"reasoning_content": "thinking"}))
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        request = {"model": "up/m", "max_tokens": 50, "messages": [{"role": "user", "content": "2+2?"}]}
        if stream:
            with client.messages.stream(**request) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**request)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "2 and 2"


def test_field_rename_and_a_custom_adapter_registered_by_name(gateway, fake):
    class TagUser(PayloadAdapter):
        name = "tests_tag_user"
        stages = frozenset({"request"})

        def transform_request(self, native, ctx):
            native.body["user"] = f"{ctx.provider}:{ctx.config['tag']}"

    adapters = builtin_adapters()
    adapters.register(TagUser)
    base = gateway(
        chat_provider(
            credentials=["sk-fr-1111"],
            adapters=[
                {"name": "tests_tag_user", "config": {"tag": "blue"}},
                {
                    "name": "field_rename",
                    "config": {
                        "rules": [{"source_path": "max_tokens", "target_path": "max_completion_tokens", "move": True}]
                    },
                },
            ],
        ),
        adapters=adapters,
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(model="up/m", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    body = fake.requests[-1].body
    assert body["user"] == "up:blue"
    assert body.get("max_completion_tokens") == 20 and "max_tokens" not in body
