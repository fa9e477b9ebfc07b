"""The decision passes of the trace (routing, fallback, cooldown, stream lifecycle, Responses storage), read from
the trace files themselves, and the redaction of reasoning text and provider state in every trace by default."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anthropic
import google.genai
import httpx
import openai

from asgi_rotator.testing import Reply

from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "hi"}]
SIGNATURE = Reply.signature
REASONING = "the-hidden-chain-of-thought"


def trace_file(trace_dir: Path, client_id: str) -> list[dict[str, Any]]:
    """The entries of the trace of the request the client tagged ``x-request-id: client_id`` (the gateway names
    the file by the id it minted and keeps the client's as a ``client_request_id`` entry), once the request
    ended: the client may have its answer a moment before the file is written. The tag entry is left out."""
    tag = json.dumps({"x-request-id": client_id})
    for _ in range(200):
        for path in trace_dir.glob("*.jsonl"):
            text = path.read_text()
            if tag in text.replace('": "', '":"').replace(", ", ",") or f'"x-request-id":"{client_id}"' in text:
                if "final_client_response" in text:
                    entries = [json.loads(line) for line in text.splitlines()]
                    return [e for e in entries if e["pass_name"] != "client_request_id"]
        time.sleep(0.01)
    raise AssertionError(f"no trace tagged {client_id!r}")


def passes(entries: list[dict[str, Any]]) -> list[str]:
    return [e["pass_name"] for e in entries]


def entry(entries: list[dict[str, Any]], name: str, nth: int = 0) -> dict[str, Any]:
    return [e for e in entries if e["pass_name"] == name][nth]


def in_order(names: list[str], expected: list[str]) -> bool:
    """``expected`` occurs in ``names`` as a subsequence."""
    position = 0
    for name in names:
        if position < len(expected) and name == expected[position]:
            position += 1
    return position == len(expected)


def test_a_rotated_request_traces_the_decision_then_the_cooldown_then_the_next_credential(gateway, fake, trace_dir):
    provider = openai_provider(
        {"key": "sk-rotate-first-aaaa", "priority": 1}, {"key": "sk-rotate-second-bbbb", "priority": 2}
    )
    base = gateway({"providers": {"fake": {**provider, "selection": "priority"}}})
    fake.on_key("sk-rotate-first-aaaa", Reply(status=429, retry_after=30))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        reply = client.chat.completions.with_raw_response.create(
            model="fake/m", messages=MESSAGES, extra_headers={"x-request-id": "rotated-0001"}
        )
    assert reply.headers["x-rotator-credential"] == "...bbbb"
    entries = trace_file(trace_dir, "rotated-0001")
    names = passes(entries)
    assert in_order(
        names,
        [
            "routing_decision",
            "routing_target_attempt_started",
            "provider_cooldown_started",
            "routing_target_attempt_failed",
            "routing_target_attempt_started",
            "routing_target_attempt_succeeded",
            "final_client_response",
        ],
    ), names
    decision = entry(entries, "routing_decision")["data"]
    assert decision["candidates"] == ["fake/m"] and decision["chosen"] == "fake/m"
    assert "provider 'fake'" in decision["reason"]
    first, second = (entry(entries, "routing_target_attempt_started", n) for n in (0, 1))
    assert first["data"]["masked_credential"] == "...aaaa" and second["data"]["masked_credential"] == "...bbbb"
    assert first["data"]["selection"] == "priority"
    cooldown = entry(entries, "provider_cooldown_started")["data"]
    assert (cooldown["scope"], cooldown["source"], cooldown["reason"]) == ("credential", "retry_after", "rate_limit")
    assert 29 <= cooldown["seconds"] <= 30 and cooldown["masked_credential"] == "...aaaa"
    assert "routing_fallback_selected" not in names and "routing_fallback_exhausted" not in names


def test_a_failed_over_request_traces_the_fallback_after_the_cooldown(gateway, fake, trace_dir):
    base = gateway(
        {
            "providers": {"alpha": openai_provider("sk-alpha-only-1111"), "beta": openai_provider("sk-beta-only-2222")},
            "routing": {"aliases": {"smart": "alpha/m1"}, "fallback_groups": [["alpha/m1", "beta/m2"]]},
            # The first rest outlasts routing.max_wait, so the pool does not wait it out.
            "cooldowns": {"rate_limit_steps": [30]},
        }
    )
    fake.on_key("sk-alpha-only-1111", Reply(status=429))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        reply = client.chat.completions.with_raw_response.create(
            model="smart", messages=MESSAGES, extra_headers={"x-request-id": "failover-0001"}
        )
    assert reply.headers["x-rotator-provider"] == "beta/m2"
    entries = trace_file(trace_dir, "failover-0001")
    names = passes(entries)
    assert in_order(
        names,
        [
            "routing_decision",
            "routing_target_attempt_started",
            "provider_cooldown_started",
            "routing_target_attempt_failed",
            "cooldown_wait_exceeds_budget",
            "routing_fallback_selected",
            "routing_target_attempt_started",
            "routing_target_attempt_succeeded",
        ],
    ), names
    decision = entry(entries, "routing_decision")["data"]
    assert decision["candidates"] == ["alpha/m1", "beta/m2"] and decision["chosen"] == "alpha/m1"
    assert decision["reason"].startswith("alias 'smart' resolves to alpha/m1; first of fallback group")
    cooldown = entry(entries, "provider_cooldown_started")["data"]
    assert cooldown["source"] == "rate_limit_steps" and cooldown["target"] == "alpha/m1"
    fallback = entry(entries, "routing_fallback_selected")["data"]
    assert fallback == {"from": "alpha/m1", "to": "beta/m2", "reason": "rate_limit"}


def test_an_exhausted_plan_and_a_waited_cooldown_are_traced(gateway, fake, trace_dir):
    base = gateway(
        {
            "providers": {"alpha": openai_provider("sk-alpha-ex-1111"), "beta": openai_provider("sk-beta-ex-2222")},
            "routing": {"fallback_groups": [["alpha/m1", "beta/m2"]]},
        }
    )
    fake.default = Reply(status=500)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        try:
            client.chat.completions.create(
                model="alpha/m1", messages=MESSAGES, extra_headers={"x-request-id": "exhausted-0001"}
            )
        except openai.APIStatusError as error:
            assert error.status_code == 502
    entries = trace_file(trace_dir, "exhausted-0001")
    names = passes(entries)
    assert in_order(names, ["routing_decision", "routing_fallback_selected", "routing_fallback_exhausted"]), names
    exhausted = entry(entries, "routing_fallback_exhausted")["data"]
    assert exhausted["tried"] == ["alpha/m1", "beta/m2"] and exhausted["status"] == 502


def test_a_short_rate_limit_is_waited_out_and_traced(gateway, fake, trace_dir):
    base = gateway({"providers": {"solo": openai_provider("sk-solo-wait-1111")}, "routing": {"max_wait": 5}})
    fake.script(Reply(status=429, retry_after=0.3))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(model="solo/m", messages=MESSAGES, extra_headers={"x-request-id": "waited-01"})
    entries = trace_file(trace_dir, "waited-01")
    names = passes(entries)
    assert in_order(names, ["provider_cooldown_started", "cooldown_wait", "routing_target_attempt_started"]), names
    assert entry(entries, "cooldown_wait")["data"]["waited_seconds"] > 0


def test_a_stream_failing_after_output_traces_the_blocked_fallback(gateway, fake, trace_dir):
    base = gateway(
        {
            "providers": {"alpha": openai_provider("sk-alpha-st-1111"), "beta": openai_provider("sk-beta-st-2222")},
            "routing": {"fallback_groups": [["alpha/m1", "beta/m2"]]},
            "streaming": {"stall_timeout": 0.3, "ttfb_timeout": None, "heartbeat_interval": None},
        }
    )
    fake.default = Reply(text="one two three four five six", stall_after=3)
    with httpx.stream(
        "POST",
        base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {PROXY_KEY}", "x-request-id": "blocked-0001"},
        json={"model": "alpha/m1", "messages": MESSAGES, "stream": True},
    ) as response:
        body = response.read()
    assert b'"error"' in body
    entries = trace_file(trace_dir, "blocked-0001")
    names = passes(entries)
    assert in_order(
        names,
        [
            "routing_decision",
            "stream_first_byte",
            "routing_target_attempt_succeeded",
            "stream_stall_timeout",
            "routing_stream_fallback_blocked_after_output",
        ],
    ), names
    assert "routing_fallback_selected" not in names
    assert entry(entries, "routing_stream_fallback_blocked_after_output")["data"]["error"] == "timeout"
    listed = httpx.get(base + "/rotator/requests", headers={"x-api-key": PROXY_KEY}).json()["requests"]
    assert [(r["id"], r["status"], r["error"]) for r in listed] == [(response.headers["x-request-id"], 200, "timeout")]


def test_heartbeats_and_a_client_cancel_are_traced(gateway, fake, trace_dir):
    base = gateway(
        {
            "providers": {"up": openai_provider("sk-heartbeat-1111")},
            "streaming": {"heartbeat_interval": 0.1, "ttfb_timeout": None, "stall_timeout": None},
        }
    )
    fake.default = Reply(text="a b c d e f g h", chunk_delay=0.25)
    with httpx.stream(
        "POST",
        base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {PROXY_KEY}", "x-request-id": "cancelled-0001"},
        json={"model": "up/m", "messages": MESSAGES, "stream": True},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                break  # the client goes away mid-stream
    names = passes(trace_file(trace_dir, "cancelled-0001"))
    assert in_order(names, ["stream_first_byte", "stream_heartbeat", "stream_cancelled", "stream_metrics"]), names


def test_responses_storage_and_lineage_are_traced(gateway, fake, trace_dir):
    base = gateway({"providers": {"up": openai_provider("sk-responses-1111")}})
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        first = client.responses.create(model="up/m", input="hi", extra_headers={"x-request-id": "resp-store-1"})
        client.responses.create(
            model="up/m", input="more", previous_response_id=first.id, extra_headers={"x-request-id": "resp-store-2"}
        )
        client.responses.create(model="up/m", input="x", store=False, extra_headers={"x-request-id": "resp-store-3"})
    stored = entry(trace_file(trace_dir, "resp-store-1"), "responses_stored_response")["data"]
    assert stored["id"] == first.id
    second = trace_file(trace_dir, "resp-store-2")
    loaded = entry(second, "responses_previous_response_loaded")
    assert loaded["data"]["previous_response_id"] == first.id and loaded["metadata"]["messages_after_expansion"] == 3
    assert entry(second, "responses_stored_response")["data"]["previous_response_id"] == first.id
    assert "responses_store_skipped" in passes(trace_file(trace_dir, "resp-store-3"))


def test_conversion_warnings_and_each_adapter_step_reach_the_trace(gateway, fake, trace_dir):
    provider = {
        "protocol": "anthropic_messages",
        "base_url": "{fake}",
        "credentials": ["sk-ant-warn-1111"],
        "adapters": [{"name": "set_headers", "config": {"headers": {"x-flag": "on"}}}, "drop_params"],
    }
    base = gateway({"providers": {"claude": provider}})
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(
            model="claude/c",
            messages=MESSAGES,
            response_format={"type": "json_object"},
            extra_headers={"x-request-id": "warnings-0001"},
        )
    entries = trace_file(trace_dir, "warnings-0001")
    warnings = entry(entries, "conversion_warnings")["data"]
    assert warnings[0]["field"] == "response_format" and warnings[0]["to"] == "anthropic_messages"
    steps = [e["metadata"]["adapter"] for e in entries if e["pass_name"] == "after_adapter"]
    assert steps[:1] == ["set_headers"], steps


def test_no_reasoning_text_or_provider_state_in_any_trace_by_default(gateway, fake, trace_dir):
    """Every protocol pair that carries reasoning, streamed and not: the files hold neither the reasoning text
    nor the signature, while the answers the clients got did carry them."""
    configs = {
        "chat": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-reason-chat-1111"]},
        "claude": {"protocol": "anthropic_messages", "base_url": "{fake}", "credentials": ["sk-reason-ant-2222"]},
        "gem": {"protocol": "gemini", "base_url": "{fake}", "credentials": ["sk-reason-gem-3333"]},
        "resp": {"protocol": "openai_responses", "base_url": "{fake}/v1", "credentials": ["sk-reason-resp-4444"]},
    }
    base = gateway({"providers": configs})
    fake.default = Reply(text="visible answer", reasoning=REASONING)
    ids = []
    seen_by_clients = ""
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as claude:
        for stream in (False, True):
            request_id = f"reasoning-ant-{stream}"
            ids.append(request_id)
            with claude.messages.with_streaming_response.create(
                model="claude/c",
                max_tokens=100,
                stream=stream,
                messages=MESSAGES,
                thinking={"type": "enabled", "budget_tokens": 50},
                extra_headers={"x-request-id": request_id},
            ) as raw:
                seen_by_clients += raw.read().decode()
    genai = google.genai.Client(api_key=PROXY_KEY, http_options={"base_url": base, "api_version": "v1beta"})
    ids.append("reasoning-gem-1")
    answer = genai.models.generate_content(
        model="gem/g",
        contents="hi",
        config={"http_options": {"headers": {"x-request-id": "reasoning-gem-1"}}},
    )
    seen_by_clients += answer.model_dump_json()
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        for model in ("chat/m", "resp/m", "claude/c", "gem/g"):
            request_id = f"reasoning-responses-{model.partition('/')[0]}"
            ids.append(request_id)
            reply = client.responses.with_raw_response.create(
                model=model, input="hi", extra_headers={"x-request-id": request_id}
            )
            seen_by_clients += reply.http_response.text
            request_id = f"reasoning-chat-{model.partition('/')[0]}"
            ids.append(request_id)
            with client.chat.completions.with_streaming_response.create(
                model=model, messages=MESSAGES, stream=True, extra_headers={"x-request-id": request_id}
            ) as raw:
                seen_by_clients += raw.read().decode()
    assert REASONING.split("-")[2] in seen_by_clients  # the clients did get reasoning
    for request_id in ids:
        text = json.dumps(trace_file(trace_dir, request_id))
        assert REASONING not in text and "chain-of-thought" not in text, request_id
        assert SIGNATURE not in text, request_id
        assert "[redacted]" in text, request_id


def test_show_reasoning_keeps_reasoning_text_in_the_trace(gateway, fake, trace_dir):
    base = gateway(
        {
            "providers": {"chat": openai_provider("sk-show-reason-1111")},
            "trace": {"enabled": True, "dir": str(trace_dir), "show_reasoning": True},
        }
    )
    fake.default = Reply(text="visible answer", reasoning=REASONING)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        client.chat.completions.create(model="chat/m", messages=MESSAGES, extra_headers={"x-request-id": "shown-01"})
    assert REASONING in json.dumps(trace_file(trace_dir, "shown-01"))
