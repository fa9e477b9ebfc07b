"""Field-cache rules: paths, every mode, scopes, fail-closed cases, bounds, and streams cached only when complete."""

from __future__ import annotations

import openai
import pytest

from asgi_rotator import ConfigError, RotatorASGI
from asgi_rotator.config.models import FieldCacheRule
from asgi_rotator.pipeline.field_cache import CacheContext, FieldCache
from asgi_rotator.pipeline.paths import FieldCachePathError, Path
from asgi_rotator.state import MemoryBackend
from asgi_rotator.testing import Reply

from ..conftest import PROXY_KEY


def test_paths_extract_and_inject():
    doc = {"a": [{"b": 1}, {"b": 2}], "c": {"d": "x"}}
    assert Path("a[*].b").extract(doc) == [1, 2]
    assert Path("a[-1].b").extract(doc) == [2] and Path("a[5].b").extract(doc) == []
    assert Path("c.d").extract(doc) == ["x"] and Path("missing.key").extract(doc) == []
    assert Path("c.new.deep").inject(doc, 3) and doc["c"]["new"] == {"deep": 3}
    assert not Path("a[*].b").inject(doc, 9)  # never through *
    assert not Path("c.d").inject(doc, "y", when_missing_only=True) and doc["c"]["d"] == "x"
    for bad in ("", "a..b", "a[x]", "a[1"):
        with pytest.raises(FieldCachePathError):
            Path(bad)


def rule(**fields) -> FieldCacheRule:
    return FieldCacheRule.model_validate(
        {"name": "r", "source": "response", "path": "token", "inject": {"path": "token"}, **fields}
    )


def ctx(session="s1", credential="c1", body=None) -> CacheContext:
    return CacheContext("p", "m", credential, session, None, body or {})


@pytest.fixture
def backend():
    return MemoryBackend()


async def test_last_and_all_modes(backend):
    last = FieldCache(backend, {"p": [rule()]}, prefix="t:")
    await last.extract(ctx(), response={"token": "one"})
    await last.extract(ctx(), response={"token": "two"})
    body: dict = {}
    assert await last.inject(ctx(), body, {}) == 1 and body == {"token": "two"}
    every = FieldCache(
        backend,
        {"p": [rule(name="all", mode="all", inject={"path": "tokens", "as_list": True}, max_values=2)]},
        prefix="t:",
    )
    for value in ("a", "b", "c"):
        await every.extract(ctx(), response={"token": value})
    body = {}
    await every.inject(ctx(), body, {})
    assert body == {"tokens": ["b", "c"]}


async def test_turn_modes_skip_when_the_turn_is_missing(backend):
    cache = FieldCache(
        backend,
        {
            "p": [
                rule(
                    source="request",
                    path="messages",
                    mode="last_user_turn",
                    inject={"target": "metadata", "path": "last_user"},
                )
            ]
        },
        prefix="t:",
    )
    await cache.extract(ctx(body={"messages": [{"role": "assistant", "content": "no user"}]}))
    metadata: dict = {}
    assert await cache.inject(ctx(), {}, metadata) == 0
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "second"},
    ]
    await cache.extract(ctx(body={"messages": messages}))
    await cache.inject(ctx(), {}, metadata)
    assert metadata == {"last_user": "second"}


async def test_per_tool_call_mode(backend):
    cache = FieldCache(
        backend,
        {
            "p": [
                rule(
                    path="choices[0].message.tool_calls",
                    mode="per_tool_call",
                    tool_value_path="extra_content",
                    inject={"container_path": "messages[*].tool_calls[*]", "path": "extra_content"},
                )
            ]
        },
        prefix="t:",
    )
    response = {
        "choices": [
            {
                "message": {
                    "tool_calls": [
                        {"id": "call_1", "extra_content": {"sig": "A"}},
                        {"id": "call_2", "extra_content": {"sig": "B"}},
                    ]
                }
            }
        ]
    }
    await cache.extract(ctx(), response=response)
    body = {"messages": [{"role": "assistant", "tool_calls": [{"id": "call_2"}, {"id": "call_9"}]}]}
    assert await cache.inject(ctx(), body, {}) == 1
    assert body["messages"][0]["tool_calls"] == [{"id": "call_2", "extra_content": {"sig": "B"}}, {"id": "call_9"}]


async def test_scopes_isolate_sessions_and_credentials_and_fail_closed(backend):
    cache = FieldCache(backend, {"p": [rule()]}, prefix="t:")
    await cache.extract(ctx(session="s1", credential="c1"), response={"token": "secret-of-s1"})
    for other in (ctx(session="s2"), ctx(credential="c2")):
        body: dict = {}
        assert await cache.inject(other, body, {}) == 0 and body == {}
    await cache.extract(ctx(session=None), response={"token": "x"})  # no session: nothing stored, nothing shared
    assert await cache.inject(ctx(session=None), {}, {}) == 0
    lenient = FieldCache(backend, {"p": [rule(name="lenient", allow_missing_session=True)]}, prefix="t:")
    await lenient.extract(ctx(session=None), response={"token": "shared"})
    body = {}
    assert await lenient.inject(ctx(session=None), body, {}) == 1 and body == {"token": "shared"}


async def test_oversized_values_are_not_kept(backend):
    cache = FieldCache(backend, {"p": [rule(max_bytes=10)]}, prefix="t:")
    await cache.extract(ctx(), response={"token": "x" * 50})
    assert await cache.inject(ctx(), {}, {}) == 0


def test_malformed_rule_path_fails_at_construction():
    with pytest.raises(ConfigError, match=r"providers.p.field_cache\[0\]"):
        RotatorASGI(
            {
                "providers": {
                    "p": {
                        "protocol": "openai_chat",
                        "base_url": "http://x/v1",
                        "field_cache": [{"name": "bad", "source": "response", "path": "a[", "inject": {"path": "b"}}],
                    }
                }
            }
        )


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


async def test_the_documented_deepseek_rule(backend):
    deepseek = rule(
        name="deepseek_reasoning",
        path="choices[0].message",
        mode="per_tool_call",
        tool_call_id_path="tool_calls[0].id",
        tool_value_path="reasoning_content",
        inject={
            "container_path": "messages[*]",
            "tool_call_id_path": "tool_calls[0].id",
            "path": "reasoning_content",
            "when_missing_only": True,
        },
    )
    cache = FieldCache(backend, {"p": [deepseek]}, prefix="t:")
    answer = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "reasoning_content": "need the weather",
                    "tool_calls": [{"id": "call_7", "function": {"name": "w"}}],
                }
            }
        ]
    }
    await cache.extract(ctx(), response=answer)
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "call_7", "function": {"name": "w"}}]},
            {"role": "tool", "tool_call_id": "call_7", "content": "sunny"},
        ]
    }
    assert await cache.inject(ctx(), body, {}) == 1
    assert body["messages"][1]["reasoning_content"] == "need the weather"
