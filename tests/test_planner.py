from __future__ import annotations

import pytest

from asgi_rotator.config import load_config
from asgi_rotator.errors import GatewayError
from asgi_rotator.planner import Planner
from asgi_rotator.protocols import builtin_protocols

CONFIG = {
    "providers": {
        "oai": {"protocol": "openai_chat", "base_url": "http://o/v1", "models": ["gpt-4.1"]},
        "router": {"protocol": "openai_chat", "base_url": "http://r/v1"},
        "claude": {"protocol": "anthropic_messages", "base_url": "http://a", "models": ["claude-x"]},
    },
    "routing": {
        "aliases": {"smart": "oai/gpt-4.1", "smarter": "smart"},
        "fallback_groups": [["oai/gpt-4.1", "claude/claude-x", "router/meta/llama"]],
    },
}


@pytest.fixture
def planner() -> Planner:
    return Planner(load_config(CONFIG), builtin_protocols())


def names(plan) -> list[str]:
    return [t.name for t in plan.targets]


def test_provider_prefix_keeps_slashes_in_the_model(planner):
    plan = planner.plan("router/meta/llama-3", "openai")
    assert names(plan) == ["router/meta/llama-3"] and plan.targets[0].model == "meta/llama-3"


def test_alias_chain_and_fallback_group_order(planner):
    assert names(planner.plan("smarter", "openai")) == ["oai/gpt-4.1", "claude/claude-x", "router/meta/llama"]
    assert names(planner.plan("claude/claude-x", "openai")) == ["claude/claude-x", "oai/gpt-4.1", "router/meta/llama"]


def test_bare_names(planner):
    assert names(planner.plan("claude-x", "openai")) == ["claude/claude-x", "oai/gpt-4.1", "router/meta/llama"]
    # Only one provider of the anthropic family: a bare unknown name goes there.
    assert names(planner.plan("claude-new", "anthropic")) == ["claude/claude-new"]
    with pytest.raises(GatewayError) as caught:  # two openai-family providers: ambiguous
        planner.plan("gpt-unknown", "openai")
    assert caught.value.status == 404 and "provider/model" in caught.value.message


def test_unknown_provider_is_404(planner):
    with pytest.raises(GatewayError) as caught:
        planner.plan("nope/model", "openai")
    assert caught.value.status == 404 and "nope" in caught.value.message


def test_aliases_must_name_configured_providers():
    from asgi_rotator import ConfigError

    with pytest.raises(ConfigError, match="routing.aliases"):
        load_config({"routing": {"aliases": {"x": "ghost/model"}}})
