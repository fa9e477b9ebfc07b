"""Stream guards on the gateway's own routes: first-byte and stall timeouts in each client protocol's
idiom, heartbeats, and client disconnects closing the upstream."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors, types as gtypes

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "hi"}]


def guarded(ttfb=None, stall=None, heartbeat=None, **extra):
    return {
        "providers": {"up": openai_provider("sk-stream-1111"), "backup": openai_provider("sk-stream-2222")},
        "streaming": {"ttfb_timeout": ttfb, "stall_timeout": stall, "heartbeat_interval": heartbeat},
        **extra,
    }


def test_first_byte_timeout_falls_back_before_output(gateway, fake):
    base = gateway(guarded(ttfb=0.3, routing={"fallback_groups": [["up/slow", "backup/fast"]]}))
    fake.on_model("slow", Reply(delay=5))
    started = time.monotonic()
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        chunks = list(client.chat.completions.create(model="up/slow", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert time.monotonic() - started < 2
    assert [r.model for r in fake.requests] == ["slow", "fast"]


def test_first_byte_timeout_without_fallback_is_a_504(gateway, fake):
    base = gateway(guarded(ttfb=0.3))
    fake.default = Reply(delay=5)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            list(client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True))
    assert caught.value.status_code == 504


def stalled(gateway, fake, protocol_base: str = "") -> str:
    base = gateway(guarded(stall=0.3))
    fake.default = Reply(text="one two three four five six", stall_after=3)
    return base


def test_stall_after_output_is_an_in_band_error_for_openai_chat(gateway, fake):
    base = stalled(gateway, fake)
    started = time.monotonic()
    seen = []
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(openai.APIError, match="did not send anything"):
            for chunk in client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True):
                seen.append(chunk)
    assert seen and time.monotonic() - started < 3
    wait_until_closed(fake)


def test_stall_after_output_is_an_in_band_error_for_anthropic(gateway, fake):
    base = stalled(gateway, fake)
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError):
            with client.messages.stream(model="up/m", max_tokens=100, messages=MESSAGES) as stream:
                stream.get_final_message()


def test_stall_after_output_fails_the_responses_stream(gateway, fake):
    base = stalled(gateway, fake)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        events = list(client.responses.create(model="up/m", input="hi", stream=True))
    assert events[-1].type == "response.failed" and "did not send anything" in events[-1].response.error.message


def test_stall_after_output_raises_in_google_genai(gateway, fake):
    base = stalled(gateway, fake)
    client = genai.Client(api_key=PROXY_KEY, http_options=gtypes.HttpOptions(base_url=base, api_version="v1beta"))
    with pytest.raises(genai_errors.APIError):
        list(client.models.generate_content_stream(model="up/m", contents="hi"))
    client.close()


@pytest.mark.parametrize(
    "path,body,marker",
    [
        ("/v1/chat/completions", {"model": "up/m", "messages": MESSAGES, "stream": True}, b": keep-alive"),
        ("/v1/messages", {"model": "up/m", "max_tokens": 50, "messages": MESSAGES, "stream": True}, b"event: ping"),
        (
            "/v1beta/models/up/m:streamGenerateContent?alt=sse",
            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            b"\r\n\r\n",
        ),
    ],
)
def test_heartbeats_fill_silences_in_each_protocols_idiom(gateway, fake, path, body, marker):
    base = gateway(guarded(heartbeat=0.1))
    fake.default = Reply(text="slow answer here", chunk_delay=0.35)
    with httpx.stream("POST", base + path, json=body, headers={"x-api-key": PROXY_KEY}, timeout=10) as reply:
        raw = b"".join(reply.iter_raw())
    assert reply.status_code == 200 and marker in raw


def wait_until_closed(fake, seconds: float = 1.0) -> None:
    deadline = time.monotonic() + seconds
    while fake.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.open_streams == 0


def test_client_disconnect_closes_the_upstream_within_a_second(gateway, fake):
    base = gateway(guarded())
    fake.default = Reply(text="word " * 100, chunk_delay=0.1)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True)
        next(iter(stream))
        next(iter(stream))
        stream.close()
    wait_until_closed(fake)
    assert fake.closed_streams == 1
    # The client left, but what the upstream produced until then is still accounted.
    deadline = time.monotonic() + 2
    while True:
        usage = httpx.get(base + "/rotator/usage", headers={"x-api-key": PROXY_KEY}).json()["totals"]
        if usage["requests"] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert usage["requests"] == 1 and usage["streams"]["disconnected"] == 1


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_connections_are_reused(_upstream_server, gateway, fake, stream):
    """A finished stream hands its upstream connection back to the pool, as a JSON answer does: five requests
    in a row reach the provider over one connection (a new one per stream would be a TLS handshake each)."""
    swappable, _ = _upstream_server
    client_ports: list[int] = []

    async def counting(scope, receive, send):
        if scope["type"] == "http":
            client_ports.append(scope["client"][1])
        await fake(scope, receive, send)

    swappable.app = counting
    base = gateway({"providers": {"up": openai_provider("sk-reuse-1111")}})
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        for _ in range(5):
            if stream:
                chunks = list(client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True))
                assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            else:
                assert client.chat.completions.create(model="up/m", messages=MESSAGES).choices[0].message.content
    assert len(client_ports) == 5 and len(set(client_ports)) == 1
