"""Usage and cost through the SDKs, for every provider protocol, streamed and not, with exact numbers."""

from __future__ import annotations

import httpx
import openai
import pytest

from asgi_rotator.cli import main as cli_main
from asgi_rotator.protocols.unified import Usage
from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY

PROVIDERS = {
    "openai_chat": "{fake}/v1",
    "openai_responses": "{fake}/v1",
    "anthropic_messages": "{fake}",
    "gemini": "{fake}",
}
PRICING = {"input": 2.0, "output": 8.0, "cache_read": 0.5, "cache_write": 3.0}
USAGE = Usage(input_tokens=1000, cache_read_tokens=400, cache_write_tokens=0, output_tokens=300, reasoning_tokens=50)
# 1000 * 2 + 400 * 0.5 + 300 * 8 = 4600 USD per million -> 0.0046 USD
EXPECTED_COST = 0.0046


def config(protocol: str, **extra) -> dict:
    return {
        "providers": {
            "up": {
                "protocol": protocol,
                "base_url": PROVIDERS[protocol],
                "credentials": ["sk-use-1111"],
                "models": {"m": {"pricing": PRICING}},
            }
        },
        **extra,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("protocol", sorted(PROVIDERS))
def test_exact_usage_and_cost_per_provider_protocol(gateway, fake, protocol, stream):
    base = gateway(config(protocol))
    fake.script(Reply(text="counted", usage=USAGE))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model="up/m",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            usage = chunks[-1].usage
        else:
            raw = client.chat.completions.with_raw_response.create(
                model="up/m", messages=[{"role": "user", "content": "hi"}]
            )
            usage = raw.parse().usage
            assert float(raw.headers["x-rotator-cost-usd"]) == pytest.approx(EXPECTED_COST)
            assert raw.headers["x-rotator-provider"] == "up/m" and raw.headers["x-rotator-credential"] == "...1111"
    if protocol != "gemini":  # Gemini has no cache-write field; its prompt count includes cached tokens only
        assert usage.prompt_tokens == 1400
    assert usage.prompt_tokens_details.cached_tokens == 400
    assert usage.completion_tokens == 300 and usage.completion_tokens_details.reasoning_tokens == 50
    report = httpx.get(base + "/rotator/usage", headers={"x-api-key": PROXY_KEY}).json()
    entry = report["by_model"]["up/m"]
    streams = entry.pop("streams", None)
    if stream:
        assert streams["count"] == streams["completed"] == 1 and streams["chunks"] > 2 and streams["bytes"] > 100
        assert 0 <= streams["avg_ttfb_ms"] <= streams["avg_first_token_ms"] <= streams["avg_duration_ms"]
    else:
        assert streams is None
    assert entry == {
        "requests": 1,
        "input_tokens": 1000,
        "output_tokens": 300,
        "cache_read_tokens": 400,
        "cache_write_tokens": 0,
        "reasoning_tokens": 50,
        "cost_usd": pytest.approx(EXPECTED_COST),
    }
    assert report["totals"]["requests"] == 1 and report["by_provider"]["up"]["cost_usd"] == pytest.approx(EXPECTED_COST)


def test_provider_reported_cost_wins_and_unknown_pricing_is_null(gateway, fake):
    base = gateway(
        {"providers": {"up": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-use-1111"]}}}
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        fake.script(Reply(usage=Usage(input_tokens=10, output_tokens=5, provider_cost_usd=0.0123)))
        raw = client.chat.completions.with_raw_response.create(
            model="up/m", messages=[{"role": "user", "content": "a"}]
        )
        assert float(raw.headers["x-rotator-cost-usd"]) == pytest.approx(0.0123)
        client.chat.completions.create(model="up/other", messages=[{"role": "user", "content": "b"}])
    report = httpx.get(base + "/rotator/usage", headers={"x-api-key": PROXY_KEY}).json()
    assert report["by_model"]["up/m"]["cost_usd"] == pytest.approx(0.0123)
    assert report["by_model"]["up/other"]["cost_usd"] is None and report["totals"]["cost_usd"] is None


def test_client_key_budget_answers_429_in_the_client_shape(gateway, fake):
    base = gateway(
        {
            **config("openai_chat"),
            "auth": {"api_keys": [{"key": PROXY_KEY, "budget": {"requests": 2, "period": "day"}}]},
        }
    )
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        for _ in range(2):
            client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "hi"}])
    assert "budget" in caught.value.message and int(caught.value.response.headers["retry-after"]) > 0


ADMIN_KEY = "admin-test-key-0001"


def test_metrics_and_usage_command(gateway, fake, capsys):
    base = gateway(config("openai_chat", auth={"api_keys": [PROXY_KEY], "admin_keys": [ADMIN_KEY]}))
    fake.script(Reply(usage=USAGE))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "hi"}])
    # The series span every tenant: only an admin key reads them.
    assert httpx.get(base + "/rotator/metrics", headers={"x-api-key": PROXY_KEY}).status_code == 403
    metrics = httpx.get(base + "/rotator/metrics", headers={"x-api-key": ADMIN_KEY})
    assert metrics.status_code == 200 and "rotator_requests_total" in metrics.text
    assert "rotator_credential_state" in metrics.text
    assert cli_main(["usage", "--url", base, "--key", PROXY_KEY]) == 0
    out = capsys.readouterr().out
    assert "up/m" in out and "1000" in out and "0.0046" in out


async def test_sse_cost_frames_are_provider_reported_cost_and_never_visible(tmp_path):
    import json as stdjson

    from asgi_rotator import RotatorASGI

    chunks = [
        ": keep-alive\n\n",
        'data: {"id":"u1","model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n',
        ": cost 0.0042\n\n",
        'data: {"id":"u1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
        'data: {"id":"u1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n',
        "data: [DONE]\n\n",
    ]

    async def upstream(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    app = RotatorASGI(
        {
            "providers": {
                "up": {"protocol": "openai_chat", "base_url": "http://up/v1", "credentials": ["sk-cost-1111"]}
            },
            "auth": {"api_keys": [PROXY_KEY]},
            "trace": {"enabled": True, "dir": str(tmp_path)},
        },
        upstream_transport=httpx.ASGITransport(app=upstream),
    )
    headers = {"authorization": f"Bearer {PROXY_KEY}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        reply = await client.post(
            "/v1/chat/completions",
            headers=headers,
            json={"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
        assert "cost" not in reply.text and '"content":"hi"' in reply.text
        report = (await client.get("/rotator/usage", headers=headers)).json()
    await app.shutdown()
    assert report["by_model"]["up/m"]["cost_usd"] == pytest.approx(0.0042)
    trace_file = tmp_path / f"{reply.headers['x-request-id']}.jsonl"
    entries = [stdjson.loads(line) for line in trace_file.read_text().splitlines()]
    summary = next(e for e in entries if e["pass_name"] == "usage_accounting_summary")
    assert summary["metadata"]["cost_source"] == "provider"


def test_usage_series_by_provider_and_model_over_time(gateway, fake):
    base = gateway(config("openai_chat"))
    fake.default = Reply(usage=Usage(input_tokens=10, output_tokens=4))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        for _ in range(2):
            client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "hi"}])
    headers = {"x-api-key": PROXY_KEY}
    series = httpx.get(base + "/rotator/usage", params={"series": "minute"}, headers=headers).json()
    assert series["bucket_seconds"] == 60 and len(series["series"]) == 120
    points = [p for p in series["series"] if p["by_model"]]
    assert [p["t"] for p in series["series"]] == sorted(p["t"] for p in series["series"])
    assert sum(p["by_model"]["up/m"]["requests"] for p in points) == 2
    entry = points[-1]["by_provider"]["up"]
    assert set(entry) == {"requests", "input_tokens", "output_tokens", "cost_usd"}
    bad = httpx.get(base + "/rotator/usage", params={"series": "week"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "series"
