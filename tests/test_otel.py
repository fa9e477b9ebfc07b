"""OpenTelemetry: GenAI spans and metrics, read with the SDK's in-memory exporter and reader.

The host owns the providers (as a real host would): this module installs the SDK's global tracer and meter
providers once, and the gateway, which never installs one, emits through them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from asgi_rotator import RotatorASGI
from asgi_rotator.protocols.unified import Usage
from asgi_rotator.testing import FakeUpstream, Reply
from asgi_rotator.tracing.otel import operation_name

from .conftest import PROXY_KEY

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()
MESSAGES = [{"role": "user", "content": "tell me a secret"}]


@pytest.fixture(scope="module", autouse=True)
def _host_providers() -> None:
    """The host's OpenTelemetry setup (set once per process; the first setting wins)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def gateway(upstream: FakeUpstream, *keys: str, **config: Any) -> RotatorASGI:
    provider = {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": list(keys)}
    full = {"providers": {"up": {**provider, "selection": "sequential"}}, "auth": {"api_keys": [PROXY_KEY]}, **config}
    return RotatorASGI(full, upstream_transport=httpx.ASGITransport(app=upstream))


def client(app: RotatorASGI) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0)


def by_name(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    named: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        named.setdefault(span.name, []).append(span)
    return named


async def test_a_rotated_request_has_a_genai_span_and_a_child_per_attempt(spans):
    upstream = FakeUpstream()
    upstream.on_key("sk-otel-first-1111", Reply(status=429, retry_after=30))
    upstream.default = Reply(text="fine", usage=Usage(input_tokens=8, output_tokens=5, cache_read_tokens=3))
    app = gateway(upstream, "sk-otel-first-1111", "sk-otel-second-2222")
    async with client(app) as sdk:
        reply = await sdk.chat.completions.with_raw_response.create(model="up/gpt-x", messages=MESSAGES)
    await app.shutdown()
    named = by_name(spans.get_finished_spans())
    request = named["chat up/gpt-x"]
    assert len(request) == 1
    attrs = dict(request[0].attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "up"
    assert attrs["gen_ai.request.model"] == "up/gpt-x"
    assert attrs["gen_ai.response.model"] == "gpt-x"
    assert attrs["gen_ai.usage.input_tokens"] == 11  # 8 uncached + 3 cache reads: every input token
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["asgi_rotator.credential"] == "...2222"
    assert attrs["asgi_rotator.attempts"] == 2
    assert attrs["asgi_rotator.request_id"] == reply.headers["x-request-id"]
    assert attrs["http.response.status_code"] == 200
    assert request[0].status.status_code != StatusCode.ERROR

    attempts = sorted(named["chat gpt-x"], key=lambda s: s.start_time or 0)
    assert [s.parent.span_id for s in attempts if s.parent] == [request[0].context.span_id] * 2
    assert all(s.kind == SpanKind.CLIENT for s in attempts)
    first, second = (dict(s.attributes or {}) for s in attempts)
    assert first["asgi_rotator.credential"] == "...1111" and first["asgi_rotator.attempt.outcome"] == "rate_limit"
    assert first["http.response.status_code"] == 429 and first["error.type"] == "rate_limit"
    assert first["asgi_rotator.cooldown.scope"] == "credential"
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert second["asgi_rotator.credential"] == "...2222" and second["asgi_rotator.attempt.outcome"] == "ok"
    assert second["gen_ai.usage.input_tokens"] == 11 and second["gen_ai.provider.name"] == "up"
    text = repr([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert "tell me a secret" not in text and "fine" not in text  # no content unless configured
    assert "sk-otel" not in text and PROXY_KEY not in text


async def test_the_request_span_ends_before_the_last_byte_is_sent(spans):
    upstream = FakeUpstream()
    app = gateway(upstream, "sk-otel-stream-3333")
    ended_before_last_byte: list[bool] = []
    body = b'{"model": "up/m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    received = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if received:
            return received.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            ended_before_last_byte.append(any(s.name == "chat up/m" for s in spans.get_finished_spans()))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {PROXY_KEY}".encode()), (b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    await app.shutdown()
    assert ended_before_last_byte == [True]
    request = by_name(spans.get_finished_spans())["chat up/m"][0]
    assert request.attributes is not None and request.attributes["asgi_rotator.stream"] is True
    assert request.attributes["gen_ai.usage.output_tokens"] == 8


async def test_content_only_when_configured_and_never_a_secret(spans):
    upstream = FakeUpstream()
    upstream.default = Reply(text="the answer")
    app = gateway(upstream, "sk-otel-content-4444", otel={"capture_content": True})
    async with client(app) as sdk:
        await sdk.chat.completions.create(
            model="up/m", messages=[{"role": "user", "content": "my key is sk-otel-content-4444"}]
        )
    await app.shutdown()
    attrs = dict(by_name(spans.get_finished_spans())["chat up/m"][0].attributes or {})
    assert "my key is" in str(attrs["gen_ai.input.messages"])
    assert "the answer" in str(attrs["gen_ai.output.messages"])
    assert "sk-otel-content-4444" not in repr(attrs)


async def test_a_failed_request_span_has_the_error_and_metrics_are_recorded(spans):
    upstream = FakeUpstream()
    upstream.default = Reply(status=500)
    app = gateway(upstream, "sk-otel-fail-5555")
    async with client(app) as sdk:
        with pytest.raises(openai.APIStatusError):
            await sdk.chat.completions.create(model="up/m", messages=MESSAGES)
    await app.shutdown()
    request = by_name(spans.get_finished_spans())["chat up/m"][0]
    assert request.status.status_code == StatusCode.ERROR
    assert request.attributes is not None and request.attributes["http.response.status_code"] == 502
    data = READER.get_metrics_data()
    assert data is not None
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "asgi_rotator.upstream.attempts"} <= names


def test_operation_names_follow_the_genai_conventions():
    assert operation_name("generate", "openai_chat") == "chat"
    assert operation_name("generate", "anthropic_messages") == "chat"
    assert operation_name("generate", "openai_responses") == "chat"
    assert operation_name("generate", "gemini") == "generate_content"
    assert operation_name("count_tokens", "gemini") == "count_tokens"


def test_without_opentelemetry_nothing_happens_and_no_provider_is_installed(tmp_path):
    """In a fresh process: with the package hidden the gateway serves as usual; with it present, the gateway
    leaves the global providers alone."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        import httpx
        hide = sys.argv[1] == "hide"
        if hide:
            sys.modules["opentelemetry"] = None  # an import of it now fails, as if not installed
        from asgi_rotator import RotatorASGI
        from asgi_rotator.testing import FakeUpstream

        async def main():
            config = {{"providers": {{"up": {{"protocol": "openai_chat", "base_url": "http://u/v1",
                       "credentials": ["sk-no-otel-1111"]}}}}, "auth": {{"api_keys": ["{PROXY_KEY}"]}}}}
            app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
                reply = await http.post("/v1/chat/completions", headers={{"x-api-key": "{PROXY_KEY}"}},
                                        json={{"model": "up/m", "messages": [{{"role": "user", "content": "x"}}]}})
            gateway = await app.startup()
            print(reply.status_code, gateway._observer.telemetry.enabled)
            if not hide:
                from opentelemetry import trace
                print(type(trace.get_tracer_provider()).__name__)

        asyncio.run(main())
        """
    )
    hidden = subprocess.run([sys.executable, "-c", script, "hide"], capture_output=True, text=True, timeout=60)
    assert hidden.stdout.split() == ["200", "False"], hidden.stderr
    present = subprocess.run([sys.executable, "-c", script, "show"], capture_output=True, text=True, timeout=60)
    assert present.stdout.split() == ["200", "True", "ProxyTracerProvider"], present.stderr


def test_no_span_is_built_until_the_host_installs_a_provider():
    """In a fresh process with opentelemetry installed but no provider set, requests build no spans (the API's
    default providers would drop them); once the host installs one, requests from a second on are traced."""
    script = textwrap.dedent(
        f"""
        import asyncio
        import httpx
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from asgi_rotator import RotatorASGI
        from asgi_rotator.testing import FakeUpstream
        from asgi_rotator.tracing.observation import RequestSummary

        async def main():
            config = {{"providers": {{"up": {{"protocol": "openai_chat", "base_url": "http://u/v1",
                       "credentials": ["sk-late-otel-1111"]}}}}, "auth": {{"api_keys": ["{PROXY_KEY}"]}}}}
            app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))
            telemetry = (await app.startup())._observer.telemetry
            summary = RequestSummary("r1", 0.0, "POST", "/v1/chat/completions", "openai_chat")
            exporter = InMemorySpanExporter()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
                async def ask():
                    reply = await http.post("/v1/chat/completions", headers={{"x-api-key": "{PROXY_KEY}"}},
                                            json={{"model": "up/m", "messages": [{{"role": "user", "content": "x"}}]}})
                    return reply.status_code
                before = await ask(), telemetry.start(summary) is None, len(exporter.get_finished_spans())
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
                await asyncio.sleep(1.1)  # the gateway looks for a provider at most once a second
                after = await ask(), telemetry.start(summary) is None, len(exporter.get_finished_spans())
            print(*before, *after)

        asyncio.run(main())
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["200", "True", "0", "200", "False", "2"], run.stderr
