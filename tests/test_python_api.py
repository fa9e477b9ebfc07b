"""The Python API: ``acompletion``, ``aembedding``, ``agenerate`` and ``aclose`` on an app that no server runs and
no lifespan started, through the same pipeline as HTTP (routing, rotation, usage, traces)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_rotator import APIStatusError, RotatorASGI
from asgi_rotator.protocols.unified import Usage
from asgi_rotator.testing import FakeUpstream, Reply

from .conftest import PROXY_KEY

MESSAGES = [{"role": "user", "content": "hi"}]
SCOPED_KEY = "proxy-scoped-key-0002"


def app(upstream: FakeUpstream, tmp_path: Path | None = None, protocol: str = "openai_chat") -> RotatorASGI:
    base = "http://upstream/v1" if protocol.startswith("openai") else "http://upstream"
    config: dict[str, Any] = {
        "providers": {
            "up": {
                "protocol": protocol,
                "base_url": base,
                "credentials": ["sk-py-bad1", "sk-py-good"],
                "selection": "sequential",
                "models": {"m": {"pricing": {"input": 1.0, "output": 2.0}}},
            }
        },
        "auth": {"api_keys": [PROXY_KEY, {"key": SCOPED_KEY, "scope": "team"}]},
        "scopes": {"team": {"providers": {"up": {"credentials": ["sk-py-team"]}}}},
    }
    if tmp_path is not None:
        config["trace"] = {"enabled": True, "dir": str(tmp_path)}
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


async def usage_of(gateway: RotatorASGI) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        answer = await http.get("/rotator/usage", headers={"authorization": f"Bearer {PROXY_KEY}"})
    return answer.json()  # type: ignore[no-any-return]


async def test_acompletion_rotates_accounts_and_traces_without_a_server(tmp_path: Path):
    upstream = FakeUpstream()
    upstream.on_key("sk-py-bad1", Reply(status=429, retry_after=30))
    gateway = app(upstream, tmp_path)
    completion = await gateway.acompletion(model="up/m", messages=MESSAGES, temperature=0.2)
    usage = await usage_of(gateway)
    await gateway.aclose()
    assert completion["object"] == "chat.completion" and completion["model"] == "up/m"
    assert completion["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    assert upstream.keys_used() == ["sk-py-bad1", "sk-py-good"]
    assert upstream.requests[-1].body["temperature"] == 0.2
    assert usage["by_model"]["up/m"]["requests"] == 1 and usage["by_model"]["up/m"]["cost_usd"] == pytest.approx(
        (12 * 1.0 + 8 * 2.0) / 1_000_000
    )
    passes = [json.loads(line)["pass_name"] for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert "provider_request" in passes and "usage_accounting_summary" in passes


async def test_acompletion_stream_yields_chunk_dicts():
    upstream = FakeUpstream(default=Reply(text="streamed words", tool_calls=[("lookup", {"q": "x"})]))
    gateway = app(upstream)
    chunks = await gateway.acompletion(
        model="up/m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    collected = [chunk async for chunk in chunks]
    await gateway.aclose()
    assert all(c["object"] == "chat.completion.chunk" for c in collected)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in collected if c["choices"])
    assert text == "streamed words"
    calls = [tc for c in collected if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["function"]["name"] == "lookup"
    assert [c["choices"][0]["finish_reason"] for c in collected if c["choices"]][-1] == "tool_calls"
    assert collected[-1]["usage"]["prompt_tokens"] == 12


async def test_a_stream_that_fails_after_output_raises_while_iterating():
    upstream = FakeUpstream(default=Reply(text="a longer answer to cut", error_after=2))
    gateway = app(upstream)
    chunks = await gateway.acompletion(model="up/m", messages=MESSAGES, stream=True)
    with pytest.raises(APIStatusError):
        async for _ in chunks:
            pass
    await gateway.aclose()


async def test_leaving_a_stream_early_closes_it():
    upstream = FakeUpstream(default=Reply(text="x" * 300, chunk_delay=0.01))
    gateway = app(upstream)
    chunks = await gateway.acompletion(model="up/m", messages=MESSAGES, stream=True)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    await gateway.aclose()
    assert upstream.open_streams == 0


async def test_aembedding_returns_float_vectors():
    gateway = app(FakeUpstream())
    answer = await gateway.aembedding(model="up/emb", input=["abc", "de"])
    encoded = await gateway.aembedding(model="up/emb", input="abc", encoding_format="base64")
    await gateway.aclose()
    assert [d["embedding"][0] for d in answer["data"]] == [3.0, 2.0]
    assert isinstance(encoded["data"][0]["embedding"], str)


@pytest.mark.parametrize(
    ("protocol", "body", "text"),
    [
        ("openai_responses", {"model": "up/m", "input": "hi"}, lambda a: a["output"][0]["content"][0]["text"]),
        (
            "anthropic_messages",
            {"model": "up/m", "max_tokens": 64, "messages": MESSAGES},
            lambda a: a["content"][0]["text"],
        ),
        (
            "gemini",
            {"model": "up/m", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            lambda a: a["candidates"][0]["content"]["parts"][0]["text"],
        ),
    ],
)
async def test_agenerate_answers_in_each_protocol(protocol, body, text):
    gateway = app(FakeUpstream())
    answer = await gateway.agenerate(protocol, body)
    events = await gateway.agenerate(protocol, {**body, "stream": True})
    collected = [event async for event in events]  # type: ignore[union-attr]
    await gateway.aclose()
    assert text(answer) == "Hello from the fake upstream."
    if protocol == "gemini":
        streamed = "".join(p.get("text", "") for e in collected for p in e["candidates"][0]["content"]["parts"])
        assert streamed == "Hello from the fake upstream."
    else:
        assert collected[-1]["type"] in ("response.completed", "message_stop")


async def test_client_key_acts_as_that_key_and_errors_raise():
    upstream = FakeUpstream()
    gateway = app(upstream)
    await gateway.acompletion(model="up/m", messages=MESSAGES, client_key=SCOPED_KEY)
    with pytest.raises(APIStatusError) as wrong_key:
        await gateway.acompletion(model="up/m", messages=MESSAGES, client_key="not-a-key")
    with pytest.raises(APIStatusError) as unknown:
        await gateway.acompletion(model="up/m", messages="not a list")  # type: ignore[arg-type]
    with pytest.raises(APIStatusError) as anthropic_error:
        await gateway.agenerate("anthropic_messages", {"model": "up/m", "messages": MESSAGES})
    await gateway.aclose()
    assert upstream.keys_used() == ["sk-py-team"]
    assert wrong_key.value.status_code == 401
    assert unknown.value.status_code == 400 and "messages" in unknown.value.message
    assert anthropic_error.value.body["type"] == "error"


async def test_aclose_then_call_again_restarts():
    upstream = FakeUpstream(default=Reply(usage=Usage(input_tokens=1, output_tokens=1)))
    gateway = app(upstream)
    await gateway.acompletion(model="up/m", messages=MESSAGES)
    await gateway.aclose()
    again = await gateway.acompletion(model="up/m", messages=MESSAGES)
    await gateway.aclose()
    assert again["usage"]["total_tokens"] == 2
    with pytest.raises(ValueError, match="known"):
        await gateway.agenerate("smoke_signals", {})
