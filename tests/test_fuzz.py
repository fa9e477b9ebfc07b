"""Property-based fuzzing: every route's body and every model name, against a gateway served on loopback.

Whatever a client sends, the gateway answers in the client protocol's shape with a 2xx or a 4xx (never a 500,
never a dropped connection), keeps serving, and never lets a model name reach another upstream resource.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PROXY_KEY, SECRETS

ROUTES = {
    "/v1/chat/completions": "openai",
    "/v1/responses": "openai",
    "/v1/messages": "anthropic",
    "/v1/messages/count_tokens": "anthropic",
    "/v1beta/models/gem/m:generateContent": "gemini",
    "/v1beta/models/gem/m:streamGenerateContent?alt=sse": "gemini",
    "/v1beta/models/gem/m:countTokens": "gemini",
}


def text(max_size: int) -> st.SearchStrategy[str]:
    """Any text, except one holding a configured test key: Hypothesis also draws the package's own string
    constants ("sk-ant-api"), and a client's text is traced as sent, which would trip the suite's leak scan."""
    return st.text(max_size=max_size).filter(lambda drawn: not any(secret in drawn for secret in SECRETS))


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text(20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text(12), children, max_size=4),
    max_leaves=12,
)
#: Bodies that look like what a client sends, with fields of the wrong type or shape mixed in.
FIELDS = st.sampled_from(
    [
        "model",
        "messages",
        "input",
        "contents",
        "max_tokens",
        "stream",
        "tools",
        "tool_choice",
        "system",
        "n",
        "temperature",
        "reasoning",
        "thinking",
        "generationConfig",
        "store",
        "previous_response_id",
        "metadata",
    ]
)
BODIES = st.dictionaries(FIELDS | text(8), JSON, max_size=6)


@pytest.fixture
def base(gateway) -> str:
    providers = {
        "up": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-fuzz-1111"]},
        "gem": {"protocol": "gemini", "base_url": "{fake}", "credentials": ["sk-fuzz-gem-2222"]},
    }
    return gateway({"providers": providers})


def shape_of(family: str, body: Any) -> bool:
    """Whether an error body has the client protocol's error shape."""
    if family == "anthropic":
        return body.get("type") == "error" and isinstance(body.get("error", {}).get("message"), str)
    error = body.get("error")
    return isinstance(error, dict) and isinstance(error.get("message"), str)


@FUZZ
@given(route=st.sampled_from(sorted(ROUTES)), body=BODIES)
def test_any_body_on_any_route_is_answered_in_shape(base, route, body):
    reply = httpx.post(base + route, json=body, headers={"x-api-key": PROXY_KEY}, timeout=30)
    assert reply.status_code < 500, (reply.status_code, reply.text[:300])
    if reply.status_code >= 400:
        assert shape_of(ROUTES[route], reply.json()), reply.text[:300]


@FUZZ
@given(raw=st.binary(max_size=64))
def test_any_bytes_are_a_clean_400(base, raw):
    reply = httpx.post(base + "/v1/chat/completions", content=raw, headers={"x-api-key": PROXY_KEY}, timeout=30)
    assert reply.status_code < 500 and shape_of("openai", reply.json()) if reply.status_code >= 400 else True


NAMES = text(300) | st.sampled_from(
    [
        "../../v1beta/cachedContents",
        "m?key=x",
        "m#frag",
        "a%2Fb",
        "m\r\nx-evil: 1",
        "m\x00",
        "m\u202eevil",
        "\u00e9t\u00e9",
    ]
)


def assert_one_segment(fake, model: str) -> None:
    """Every upstream request put ``model`` in the Gemini path as one percent-encoded segment."""
    for sent in fake.requests:
        raw = sent.raw_path.decode()
        assert raw == f"/v1beta/models/{quote(model, safe='')}:generateContent", raw


@FUZZ
@given(name=NAMES)
def test_model_names_never_escape_their_path_segment(base, fake, name):
    fake.requests.clear()
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = "/v1beta/models/gem%2F" + quote(name, safe="") + ":generateContent"
    reply = httpx.post(base + path, json=body, headers={"x-api-key": PROXY_KEY}, timeout=30)
    assert reply.status_code < 500, (reply.status_code, reply.text[:300])
    assert_one_segment(fake, name)
    header = reply.headers.get("x-rotator-provider", "")
    assert header.isascii() and header == header.strip() and "\r" not in header and "\n" not in header


@FUZZ
@given(name=NAMES)
def test_model_names_in_bodies_never_escape_a_gemini_path(base, fake, name):
    fake.requests.clear()
    body = {"model": "gem/" + name, "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(base + "/v1/chat/completions", json=body, headers={"x-api-key": PROXY_KEY}, timeout=30)
    assert reply.status_code in (200, 400, 404), (reply.status_code, reply.text[:300])
    assert_one_segment(fake, name)


@FUZZ
@given(name=NAMES)
def test_model_names_in_bodies_are_served_or_refused_cleanly(base, name):
    body = {"model": "up/" + name, "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(base + "/v1/chat/completions", json=body, headers={"x-api-key": PROXY_KEY}, timeout=30)
    assert reply.status_code in (200, 400, 404), (reply.status_code, reply.text[:300])
    if reply.status_code == 200:
        assert reply.headers["x-rotator-provider"].isascii()
