"""Across protocols, through the official SDKs: a field whose loss changes the answer is refused with a 400
naming it (in the client's shape), unless a target of the client's own protocol can serve it; optional tuning
the target lacks is dropped and listed in ``x-rotator-warnings``."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors, types as genai_types

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY

BASES = {
    "openai_chat": "{fake}/v1",
    "openai_responses": "{fake}/v1",
    "anthropic_messages": "{fake}",
    "gemini": "{fake}",
}


def config(*protocols: str) -> dict:
    providers = {
        p.replace("_", "-"): {"protocol": p, "base_url": BASES[p], "credentials": [f"sk-{p}"]} for p in protocols
    }
    group = [f"{p.replace('_', '-')}/m" for p in protocols]
    return {"providers": providers, "routing": {"fallback_groups": [group]} if len(group) > 1 else {}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "modalities"),
        ({"web_search_options": {}}, "web_search_options"),
    ],
)
def test_chat_fields_that_change_meaning_are_refused_across_protocols(gateway, fake, extra, param):
    base = gateway(config("anthropic_messages"))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(
                model="anthropic-messages/m", messages=[{"role": "user", "content": "hi"}], **extra
            )
    assert raised.value.body["param"] == param and "anthropic_messages" in raised.value.body["message"]
    assert fake.requests == []


def test_a_chat_upstream_serves_n_and_a_fallback_group_skips_the_target_that_cannot(gateway, fake):
    base = gateway(config("anthropic_messages", "openai_chat"))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="anthropic-messages/m", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert raw.headers["x-rotator-provider"] == "openai-chat/m"
    assert [r.protocol for r in fake.requests] == ["openai_chat"] and fake.requests[0].body["n"] == 2


def test_responses_background_and_forced_hosted_tool_are_refused(gateway, fake):
    base = gateway(config("gemini"))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            client.responses.create(model="gemini/m", input="hi", background=True)
        assert raised.value.body["param"] == "background"
        with pytest.raises(openai.BadRequestError) as raised:
            client.responses.create(
                model="gemini/m", input="hi", tools=[{"type": "web_search"}], tool_choice={"type": "web_search"}
            )
        assert raised.value.body["param"] == "tool_choice"


def test_anthropic_forced_server_tool_is_refused_in_anthropic_shape(gateway, fake):
    base = gateway(config("openai_chat"))
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as raised:
            client.messages.create(
                model="openai-chat/m",
                max_tokens=100,
                messages=[{"role": "user", "content": "search the web"}],
                tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
                tool_choice={"type": "tool", "name": "web_search"},
            )
    assert raised.value.body["type"] == "error" and "tool_choice" in raised.value.body["error"]["message"]


def test_gemini_logprobs_are_refused_in_gemini_shape(gateway, fake):
    base = gateway(config("openai_chat"))
    client = genai.Client(api_key=PROXY_KEY, http_options=genai_types.HttpOptions(base_url=base))
    with pytest.raises(genai_errors.ClientError) as raised:
        client.models.generate_content(
            model="openai-chat/m", contents="hi", config=genai_types.GenerateContentConfig(response_logprobs=True)
        )
    assert raised.value.code == 400 and "responseLogprobs" in str(raised.value.message)


@pytest.mark.parametrize("stream", [False, True])
def test_dropped_tuning_is_listed_in_the_warnings_header(gateway, fake, stream):
    base = gateway(config("openai_responses"))
    body = {
        "model": "openai-responses/m",
        "messages": [{"role": "user", "content": "hi"}],
        "seed": 7,
        "stop": ["x"],
        "stream": stream,
    }
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {PROXY_KEY}"}) as client:
        answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200
    warnings = json.loads(answer.headers["x-rotator-warnings"])
    assert {w["field"] for w in warnings} == {"seed", "stop"}
    assert all(w["code"] == "dropped_field" and w["message"] for w in warnings)
    trace = httpx.get(
        base + f"/rotator/traces/{answer.headers['x-request-id']}", headers={"x-api-key": PROXY_KEY}
    ).json()
    traced = next(e["data"] for e in trace["entries"] if e["pass_name"] == "conversion_warnings")
    assert {w["field"] for w in traced} == {"seed", "stop"}


def test_same_protocol_answers_carry_no_warnings(gateway, fake):
    fake.script(Reply())
    base = gateway(config("gemini"))
    client = genai.Client(api_key=PROXY_KEY, http_options=genai_types.HttpOptions(base_url=base))
    tools = [genai_types.Tool(google_search=genai_types.GoogleSearch())]
    response = client.models.generate_content(
        model="gemini/m", contents="hi", config=genai_types.GenerateContentConfig(tools=tools)
    )
    assert response.text and "x-rotator-warnings" not in (response.sdk_http_response.headers or {})
