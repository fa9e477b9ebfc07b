"""The output-protocol override: ``X-Proxy-Output-Protocol`` or a provider's ``default_output_protocol`` puts
the whole answer (body, stream events, errors) in that protocol's shape; the header wins."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from asgi_rotator import ConfigError, RotatorASGI
from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY


def config(**provider: str) -> dict:
    up = {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-1"], **provider}
    return {"providers": {"up": up}}


def post(base: str, body: dict, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {PROXY_KEY}", **headers}) as client:
        return client.post("/v1/chat/completions", json=body)


CHAT = {"model": "up/m", "messages": [{"role": "user", "content": "hi"}]}


def test_the_header_makes_a_chat_request_answer_as_anthropic_and_is_not_forwarded(gateway, fake):
    base = gateway(config())
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="up/m",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Proxy-Output-Protocol": "claude-messages"},
        )
    message = anthropic.types.Message.model_validate(raw.http_response.json())
    assert message.type == "message" and message.content[0].text == "Hello from the fake upstream."
    assert message.id.startswith("msg_")
    assert "x-proxy-output-protocol" not in fake.requests[0].headers


def test_the_header_shapes_stream_events(gateway, fake):
    base = gateway(config())
    answer = post(base, {**CHAT, "stream": True}, **{"x-proxy-output-protocol": "responses"})
    events = [line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_errors_take_the_output_protocols_shape(gateway, fake):
    base = gateway(config())
    answer = post(base, {**CHAT, "model": "nowhere/m"}, **{"x-proxy-output-protocol": "gemini"})
    assert answer.status_code == 404 and answer.json()["error"]["status"] == "NOT_FOUND"
    fake.default = Reply(status=500)
    answer = post(base, CHAT, **{"x-proxy-output-protocol": "anthropic"})
    assert answer.status_code == 502 and answer.json()["type"] == "error"


def test_an_unknown_output_protocol_is_a_400_in_the_clients_shape(gateway, fake):
    base = gateway(config())
    answer = post(base, CHAT, **{"x-proxy-output-protocol": "smoke-signals"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "x-proxy-output-protocol" and fake.requests == []


def test_a_provider_default_applies_and_the_header_wins_over_it(gateway, fake):
    base = gateway(config(default_output_protocol="gemini"))
    assert "candidates" in post(base, CHAT).json()
    assert post(base, CHAT, **{"x-proxy-output-protocol": "openai"}).json()["object"] == "chat.completion"


def test_an_unknown_provider_default_fails_at_construction():
    bad = {
        "providers": {"up": {"protocol": "openai_chat", "base_url": "http://x/v1", "default_output_protocol": "fax"}}
    }
    with pytest.raises(ConfigError, match=r"providers.up.default_output_protocol: unknown protocol 'fax'"):
        RotatorASGI(bad)
