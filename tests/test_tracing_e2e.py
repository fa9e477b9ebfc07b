"""The transform trace of real requests, read back through /rotator/traces/{id}."""

from __future__ import annotations

import anthropic
import httpx
import openai

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY


def test_cross_protocol_streamed_tool_call_shows_every_pass_in_order(gateway, fake):
    provider = {
        "protocol": "gemini",
        "base_url": "{fake}",
        "credentials": ["sk-trace-secret-1111"],
        "adapters": [{"name": "set_headers", "config": {"headers": {"x-flag": "on"}}}],
    }
    base = gateway({"providers": {"up": provider}})
    fake.script(Reply(text="", reasoning="thinking", tool_calls=[("get_weather", {"city": "Paris"})]))
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        with client.messages.with_streaming_response.create(
            model="up/m",
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "weather?"}],
            tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
            extra_headers={"x-request-id": "trace-test-0001"},
        ) as response:
            request_id = response.headers["x-request-id"]  # minted by the gateway, never the client's
            body = response.read()
    assert b"input_json_delta" in body and request_id != "trace-test-0001"
    trace = httpx.get(base + f"/rotator/traces/{request_id}", headers={"x-api-key": PROXY_KEY}).json()
    assert trace["entries"][0]["pass_name"] == "client_request_id"
    assert trace["entries"][0]["data"] == {"x-request-id": "trace-test-0001"}
    trace["entries"] = trace["entries"][1:]
    passes = [e["pass_name"] for e in trace["entries"]]
    order = [
        "raw_client_request",
        "parsed_unified_request",
        "after_field_cache_injection",
        "after_request_adapters",
        "provider_request",
        "raw_provider_stream_event",
        "parsed_unified_stream_event",
        "routing_target_attempt_succeeded",
        "formatted_client_stream_event",
        "after_field_cache_extraction",
        "final_client_response",
    ]
    positions = [passes.index(name) for name in order]
    assert positions == sorted(positions), passes
    assert passes.index("after_field_cache_extraction") < len(passes) - passes[::-1].index(
        "formatted_client_stream_event"
    )  # values are stored before the terminal frame goes out
    metrics = next(e for e in trace["entries"] if e["pass_name"] == "stream_metrics")["data"]
    assert metrics["outcome"] == "completed" and metrics["chunks"] > 3 and metrics["bytes"] > 100
    assert 0 <= metrics["ttfb_ms"] <= metrics["first_token_ms"] <= metrics["duration_ms"]
    adapters = next(e for e in trace["entries"] if e["pass_name"] == "after_request_adapters")
    assert adapters["metadata"]["adapters"] == ["set_headers"]
    extraction = next(e for e in trace["entries"] if e["pass_name"] == "after_field_cache_extraction")
    assert extraction["data"]["outcomes"] == [
        {"rule": "gemini_thought_signatures", "stage": "extract", "outcome": "stored", "count": 1}
    ]
    provider_request = next(e for e in trace["entries"] if e["pass_name"] == "provider_request")
    assert provider_request["provider"] == "up" and provider_request["credential_id"] == "...1111"
    assert "sk-trace-secret-1111" not in str(trace) and PROXY_KEY not in str(trace)
    leaks = [e["pass_name"] for e in trace["entries"] if Reply.signature in str(e)]
    assert not leaks, [e for e in trace["entries"] if Reply.signature in str(e)][:2]


def test_request_id_is_minted_and_errors_name_their_pass(gateway, fake):
    base = gateway(
        {"providers": {"up": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-trace-2222"]}}}
    )
    fake.script(Reply(status=400, error_message="bad field"))
    reply = httpx.post(
        base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {PROXY_KEY}"},
        json={"model": "up/m", "messages": [{"role": "user", "content": "x"}]},
    )
    request_id = reply.headers["x-request-id"]
    assert reply.status_code == 400 and len(request_id) >= 16
    trace = httpx.get(base + f"/rotator/traces/{request_id}", headers={"x-api-key": PROXY_KEY}).json()
    passes = [e["pass_name"] for e in trace["entries"]]
    assert "routing_target_attempt_failed" in passes and "transform_log_error" in passes
    missing = httpx.get(base + "/rotator/traces/unknown-id", headers={"x-api-key": PROXY_KEY})
    assert missing.status_code == 404


def test_trace_command_pretty_prints_the_passes(gateway, fake, capsys):
    from asgi_rotator.cli import main as cli_main

    base = gateway(
        {"providers": {"up": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-trace-3333"]}}}
    )
    reply = httpx.post(
        base + "/v1/chat/completions",
        headers={"x-api-key": PROXY_KEY},
        json={"model": "up/m", "messages": [{"role": "user", "content": "x"}]},
    )
    assert cli_main(["trace", "--url", base, "--key", PROXY_KEY, reply.headers["x-request-id"]]) == 0
    out = capsys.readouterr().out
    assert "raw_client_request" in out and "provider_request  up/m" in out and "sk-trace-3333" not in out


def test_a_json_exchange_traces_its_passes_in_pipeline_order(gateway, fake):
    provider = {
        "protocol": "openai_chat",
        "base_url": "{fake}/v1",
        "credentials": ["sk-trace-json-1111"],
        "adapters": ["reasoning_content"],
    }
    base = gateway({"providers": {"up": provider}})
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="up/m", messages=[{"role": "user", "content": "hi"}]
        )
    request_id = raw.headers["x-request-id"]
    trace = httpx.get(base + f"/rotator/traces/{request_id}", headers={"x-api-key": PROXY_KEY}).json()
    passes = [e["pass_name"] for e in trace["entries"]]
    assert passes[: passes.index("usage_accounting_summary")] == [
        "raw_client_request",
        "parsed_unified_request",
        "routing_decision",
        "routing_target_attempt_started",
        "after_field_cache_injection",
        "after_request_adapters",
        "provider_request",
        "raw_provider_response",
        "after_adapter",
        "after_response_adapters",
        "parsed_unified_response",
        "after_field_cache_extraction",
        "routing_target_attempt_succeeded",
        "final_client_response",
    ], passes
