"""The pipeline through the gateway: configured adapters and field-cache rules reach the upstream, driven by the
openai SDK against FakeUpstream (these need the executor integration)."""

from __future__ import annotations

import openai
import pytest

from asgi_rotator import ConfigError, RotatorASGI
from asgi_rotator.testing import Reply

from ..conftest import PROXY_KEY


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


def test_rule_through_the_gateway_and_stream_values_only_after_completion(gateway, fake):
    base = gateway(
        {
            "providers": {
                "up": {
                    "protocol": "openai_chat",
                    "base_url": "{fake}/v1",
                    "credentials": ["sk-fc-1111"],
                    "field_cache": [
                        {
                            "name": "echo_model",
                            "source": "stream_event",
                            "path": "model",
                            "inject": {"path": "metadata.previous_model"},
                            "allow_missing_session": True,
                            "scope": ["provider", "credential"],
                        }
                    ],
                }
            }
        }
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
