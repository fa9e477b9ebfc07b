"""Fallback groups, error classes, cooldown scopes, budgets and stream fallback, through the openai SDK."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from asgi_rotator.testing import Reply

from .clock import FakeClock
from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "hi"}]


def two_providers(**routing):
    return {
        "providers": {
            "alpha": openai_provider("sk-alpha-1111", "sk-alpha-2222"),
            "beta": openai_provider("sk-beta-3333"),
        },
        "routing": {"fallback_groups": [["alpha/m1", "beta/m2"]], **routing},
    }


@pytest.fixture
def connect(gateway):
    clients = []

    def make(config, **options):
        client = openai.OpenAI(base_url=gateway(config, **options) + "/v1", api_key=PROXY_KEY, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_model_capacity_error_moves_to_the_next_target(connect, fake):
    client = connect(two_providers())
    fake.on_model("m1", Reply(status=503, error_message="MODEL_CAPACITY_EXHAUSTED for m1"))
    reply = client.chat.completions.with_raw_response.create(model="alpha/m1", messages=MESSAGES)
    assert reply.headers["x-rotator-provider"] == "beta/m2"
    assert [r.model for r in fake.requests] == ["m1", "m2"]
    # The model now rests at alpha: the next request goes straight to beta, without touching m1.
    fake.requests.clear()
    client.chat.completions.create(model="alpha/m1", messages=MESSAGES)
    assert [r.model for r in fake.requests] == ["m2"]


def test_one_models_failures_do_not_cool_the_providers_other_models(connect, fake):
    client = connect({"providers": {"alpha": openai_provider("sk-alpha-1111", "sk-alpha-2222")}})
    fake.on_model("broken", Reply(status=500))
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="alpha/broken", messages=MESSAGES)
    assert client.chat.completions.create(model="alpha/healthy", messages=MESSAGES).choices[0].message.content
    with pytest.raises(openai.APIStatusError) as caught:  # the broken model itself is now resting
        client.chat.completions.create(model="alpha/broken", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert re.search(r"Provider 'alpha' is resting: its model cooldown ends in \d+s\.", caught.value.message)


def test_transient_failures_across_models_cool_the_provider(connect, fake):
    client = connect({"providers": {"alpha": openai_provider("sk-alpha-1111", "sk-alpha-2222")}})
    fake.default = Reply(status=502)
    for model in ("a", "b", "c"):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model=f"alpha/{model}", messages=MESSAGES)
    fake.default = Reply()
    calls = len(fake.requests)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="alpha/d", messages=MESSAGES)
    assert caught.value.status_code == 503 and "provider" in caught.value.message
    assert len(fake.requests) == calls


def test_hard_stop_is_not_failed_over(connect, fake):
    client = connect(two_providers())
    fake.on_model("m1", Reply(status=400, error_message="messages: invalid"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="alpha/m1", messages=MESSAGES)
    assert "invalid" in caught.value.message
    assert [r.model for r in fake.requests] == ["m1"]


def test_context_window_error_is_a_hard_stop(connect, fake):
    client = connect(two_providers())
    fake.on_model("m1", Reply(status=400, error_message="This model's maximum context length is 8192 tokens"))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="alpha/m1", messages=MESSAGES)
    assert len(fake.requests) == 1


def test_requested_model_goes_first_and_errors_list_targets(connect, fake):
    client = connect(two_providers())
    fake.default = Reply(status=500)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="beta/m2", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert "beta/m2, alpha/m1" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert [r.model for r in fake.requests][0] == "m2"


def test_stream_failing_before_output_falls_back(connect, fake):
    client = connect(two_providers())
    fake.on_model("m1", Reply(text="never shown", drop_after=1))
    with client.chat.completions.with_streaming_response.create(
        model="alpha/m1", messages=MESSAGES, stream=True
    ) as response:
        chunks = list(response.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake upstream."
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1  # one lifecycle only
    assert response.headers["x-rotator-provider"] == "beta/m2"


def test_stream_error_event_before_output_falls_back(connect, fake):
    client = connect(two_providers())
    fake.on_model("m1", Reply(text="x", error_after=1))  # the in-band error comes in a 200 stream
    chunks = list(client.chat.completions.create(model="alpha/m1", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake upstream."


def test_stream_failing_after_output_ends_with_an_in_band_error(connect, fake):
    client = connect(two_providers())
    fake.on_model("m1", Reply(text="partial answer that breaks", error_after=3))
    seen = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="alpha/m1", messages=MESSAGES, stream=True):
            seen.append(chunk)
    assert seen and [r.model for r in fake.requests] == ["m1"]


def test_streaming_policy_never_disables_stream_fallback(connect, fake):
    client = connect(
        {
            **two_providers(),
            "routing": {"fallback_groups": [{"targets": ["alpha/m1", "beta/m2"], "streaming_policy": "never"}]},
        }
    )
    fake.on_model("m1", Reply(status=500))
    with pytest.raises(openai.APIStatusError):
        list(client.chat.completions.create(model="alpha/m1", messages=MESSAGES, stream=True))
    assert "m2" not in [r.model for r in fake.requests]
    assert client.chat.completions.create(model="alpha/m1", messages=MESSAGES).choices  # non-stream still falls back


def test_failover_on_narrows_the_group(connect, fake):
    client = connect(
        {
            **two_providers(),
            "routing": {"fallback_groups": [{"targets": ["alpha/m1", "beta/m2"], "failover_on": ["rate_limit"]}]},
        }
    )
    fake.on_model("m1", Reply(status=500))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="alpha/m1", messages=MESSAGES)
    assert "m2" not in [r.model for r in fake.requests]


def test_long_cooldown_fails_fast_so_fallback_proceeds(connect, fake):
    client = connect(two_providers())
    fake.on_key("sk-alpha-1111", Reply(status=429, retry_after=120))
    fake.on_key("sk-alpha-2222", Reply(status=429, retry_after=120))
    reply = client.chat.completions.with_raw_response.create(model="alpha/m1", messages=MESSAGES)
    assert reply.headers["x-rotator-provider"] == "beta/m2"


def test_request_budget_bounds_a_slow_upstream(connect, fake):
    client = connect({"providers": {"alpha": openai_provider("sk-alpha-1111")}, "routing": {"request_timeout": 0.5}})
    fake.default = Reply(delay=3)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="alpha/m", messages=MESSAGES)
    assert caught.value.status_code == 504


def test_dead_upstream_answers_within_seconds(connect, fake):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "providers": {
            "dead": {
                "protocol": "openai_chat",
                "base_url": f"http://127.0.0.1:{port}/v1",
                "credentials": ["sk-dead-1111"],
            },
            "beta": openai_provider("sk-beta-3333"),
        },
        "routing": {"fallback_groups": [["dead/m", "beta/m2"]]},
    }
    client = connect(config)
    reply = client.chat.completions.with_raw_response.create(model="dead/m", messages=MESSAGES)
    assert reply.headers["x-rotator-provider"] == "beta/m2"
    attempts = reply.headers["x-rotator-attempts"]
    assert attempts.count("api_connection") == 2  # one brief retry, then fail over


def test_credentials_show_scope_and_failure_counts(connect, fake, gateway):
    clock = FakeClock()
    base = gateway({"providers": {"alpha": openai_provider("sk-alpha-1111", "sk-alpha-2222")}}, clock=clock)
    fake.script(Reply(status=429, retry_after=45))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(model="alpha/m", messages=MESSAGES)
    rows = httpx.get(base + "/rotator/credentials", headers={"x-api-key": PROXY_KEY}).json()["credentials"]
    row = next(r for r in rows if r["credential"] == "..." + fake.keys_used()[0][-4:])
    assert row["state"] == "cooling" and row["cooldown_scope"] == "credential" and row["failures"] == 1
    assert 44 <= row["cooldown_remaining"] <= 45
