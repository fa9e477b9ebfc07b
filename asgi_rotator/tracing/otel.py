"""OpenTelemetry for the gateway: a span per request and a child span per upstream attempt, following the GenAI
semantic conventions, and GenAI metrics.

``opentelemetry-api`` is optional (the ``otel`` extra). It is imported once, when the gateway starts, and never
during a request; without it :class:`Telemetry` is disabled and costs one ``if`` per request. The gateway uses
the global tracer and meter providers, so the host's own OpenTelemetry setup receives its spans; it never
installs a provider itself. Until the host installs one, no span is built at all (the API's default providers
would drop it); one installed later is used from the next request a second on.

Request span attributes: ``gen_ai.operation.name``, ``gen_ai.provider.name`` (the serving provider's configured
name), ``gen_ai.request.model`` (as the client named it), ``gen_ai.response.model`` (the served upstream model),
``gen_ai.usage.input_tokens`` (every input token, cache reads and writes included), ``gen_ai.usage.output_tokens``,
``http.response.status_code``, ``error.type``, and ``asgi_rotator.*`` (request id, scope, target, masked
credential, attempts, cost). Each attempt span adds ``asgi_rotator.attempt.outcome`` and its cooldown. Prompt
and answer text appear only with ``otel.capture_content``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _json
from ..config.observability import OtelConfig
from .observation import RequestSummary
from .redaction import Redactor

#: ``gen_ai.operation.name`` per gateway operation and client protocol.
_OPERATIONS = {"gemini": "generate_content"}


def operation_name(operation: str, protocol: str | None) -> str:
    """The GenAI operation name of a gateway ``operation`` (``generate``, ``count_tokens``) from ``protocol``."""
    if operation != "generate":
        return operation
    return _OPERATIONS.get(protocol or "", "chat")


@dataclass(frozen=True, slots=True)
class _Otel:
    """The OpenTelemetry API module and what the gateway made of it at startup."""

    api: Any  # opentelemetry.trace
    metrics: Any  # opentelemetry.metrics
    tracer: Any
    token_usage: Any  # histogram gen_ai.client.token.usage
    duration: Any  # histogram gen_ai.client.operation.duration
    attempts: Any  # counter asgi_rotator.upstream.attempts


class Telemetry:
    """The gateway's tracer and instruments, or nothing when OpenTelemetry is off or not installed.

    Args:
        config: the ``otel`` section.
        redactor: scrubs secrets from captured content.
    """

    def __init__(self, config: OtelConfig, redactor: Redactor) -> None:
        self._otel: _Otel | None = _load() if config.enabled else None
        self._capture = config.capture_content
        self._redactor = redactor
        #: A provider, once installed, stays: OpenTelemetry sets each global provider only once. Until then the
        #: check (it reads os.environ) runs at most once a second.
        self._host_installed = False
        self._next_check = 0.0

    @property
    def enabled(self) -> bool:
        """Whether spans and metrics are emitted (``otel.enabled`` and the package installed)."""
        return self._otel is not None

    @property
    def capture_content(self) -> bool:
        """Whether spans carry the client's input and the answer's text."""
        return self._otel is not None and self._capture

    def start(self, summary: RequestSummary) -> RequestSpan | None:
        """The span of a request that just arrived (a child of the host's current span), or None when off."""
        otel = self._otel
        if otel is None or not (self._host_installed or self._check_host(otel)):
            return None
        span = otel.tracer.start_span(
            "asgi_rotator.request",
            kind=otel.api.SpanKind.INTERNAL,
            attributes={"asgi_rotator.request_id": summary.id, "http.request.method": summary.method},
        )
        return RequestSpan(otel, span, summary, self._content if self._capture else None)

    def _check_host(self, otel: _Otel) -> bool:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + 1.0
            self._host_installed = _host_installed(otel)
        return self._host_installed

    def _content(self, value: Any) -> str:
        """``value`` as span content: JSON, redacted like a trace (secrets, provider state)."""
        return _json.dumps(self._redactor.redact(value)).decode()


def _load() -> _Otel | None:
    """Import opentelemetry-api (once, at startup) and make the tracer and instruments; None without it."""
    try:
        api = importlib.import_module("opentelemetry.trace")
        metrics = importlib.import_module("opentelemetry.metrics")
    except ImportError:
        return None
    try:
        version: str | None = importlib.metadata.version("asgi-rotator")
    except importlib.metadata.PackageNotFoundError:
        version = None
    meter = metrics.get_meter("asgi_rotator", version)
    return _Otel(
        api,
        metrics,
        api.get_tracer("asgi_rotator", version),
        meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens used per request, by token type."
        ),
        meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Duration of each gateway request."
        ),
        meter.create_counter(
            "asgi_rotator.upstream.attempts", unit="{attempt}", description="Upstream attempts, by outcome."
        ),
    )


def _host_installed(otel: _Otel) -> bool:
    """Whether the host installed a tracer or meter provider. Until it does (if ever), the API's default
    providers drop every span and measurement, and building them would be a request's work for nothing."""
    tracing = otel.api.get_tracer_provider()
    measuring = otel.metrics.get_meter_provider()
    return not (
        isinstance(tracing, otel.api.ProxyTracerProvider | otel.api.NoOpTracerProvider)
        and (isinstance(measuring, otel.metrics.NoOpMeterProvider) or type(measuring).__name__ == "_ProxyMeterProvider")
    )


class RequestSpan:
    """One request's span and the spans of its upstream attempts."""

    __slots__ = ("_otel", "span", "_summary", "_content", "_attempt", "_attempt_attributes")

    def __init__(self, otel: _Otel, span: Any, summary: RequestSummary, content: Callable[[Any], str] | None) -> None:
        self._otel = otel
        self.span = span
        self._summary = summary
        self._content = content
        self._attempt: Any = None
        self._attempt_attributes: dict[str, Any] = {}

    def attempt_started(self, provider: str, model: str, credential: str) -> None:
        """An upstream attempt begins: a child span named ``{operation} {model}``."""
        otel = self._otel
        self._end_attempt("abandoned", 0)  # a previous attempt nobody reported (never expected)
        operation = operation_name(self._summary.operation or "generate", self._summary.protocol)
        self._attempt_attributes = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "asgi_rotator.credential": credential,
        }
        self._attempt = otel.tracer.start_span(
            f"{operation} {model}",
            context=otel.api.set_span_in_context(self.span),
            kind=otel.api.SpanKind.CLIENT,
            attributes=self._attempt_attributes,
        )

    def attempt_failed(self, outcome: str, status: int, cooldown_scope: str | None, cooldown: float | None) -> None:
        """The current attempt failed with ``outcome`` (an error kind); its span ends now."""
        span = self._attempt
        if span is None:
            return
        if cooldown_scope is not None:
            span.set_attribute("asgi_rotator.cooldown.scope", cooldown_scope)
            span.set_attribute("asgi_rotator.cooldown.seconds", float(cooldown or 0.0))
        self._end_attempt(outcome, status)

    def finish(self, summary: RequestSummary, content: dict[str, Any] | None) -> None:
        """End the request span (and a still open, successful attempt) with the summary's attributes."""
        operation = operation_name(summary.operation or "generate", summary.protocol)
        response_model = summary.target.partition("/")[2] if summary.target else None
        optional = {
            "gen_ai.provider.name": summary.provider,
            "gen_ai.request.model": summary.model,
            "gen_ai.response.model": response_model,
            "asgi_rotator.scope": summary.scope,
            "asgi_rotator.protocol": summary.protocol,
            "asgi_rotator.target": summary.target,
            "asgi_rotator.credential": summary.credential,
            "asgi_rotator.cost_usd": summary.cost_usd,
            "http.response.status_code": summary.status or None,
            "error.type": summary.error,
        }
        attributes: dict[str, Any] = {"gen_ai.operation.name": operation}
        attributes.update({k: v for k, v in optional.items() if v is not None})
        attributes["asgi_rotator.attempts"] = len(summary.attempts)
        attributes["asgi_rotator.stream"] = summary.stream
        tokens = _token_attributes(summary)
        attributes.update(tokens)
        if content is not None and self._content is not None:
            attributes.update({name: self._content(value) for name, value in content.items()})
        if self._attempt is not None:
            self._attempt.set_attributes(tokens)
            if response_model is not None:
                self._attempt.set_attribute("gen_ai.response.model", response_model)
            self._end_attempt(summary.error or "ok", summary.status)
        api, span = self._otel.api, self.span
        span.update_name(f"{operation} {summary.model}" if summary.model else "asgi_rotator.request")
        span.set_attributes(attributes)
        if summary.error is not None:
            span.set_status(api.Status(api.StatusCode.ERROR, summary.error))
        span.end()
        self._record_metrics(summary, operation, response_model, tokens)

    def _end_attempt(self, outcome: str, status: int) -> None:
        span, self._attempt = self._attempt, None
        if span is None:
            return
        api = self._otel.api
        span.set_attribute("asgi_rotator.attempt.outcome", outcome)
        if status:
            span.set_attribute("http.response.status_code", status)
        if outcome != "ok":
            span.set_attribute("error.type", outcome)
            span.set_status(api.Status(api.StatusCode.ERROR, outcome))
        span.end()
        self._otel.attempts.add(1, {**self._attempt_attributes, "asgi_rotator.attempt.outcome": outcome})

    def _record_metrics(
        self, summary: RequestSummary, operation: str, response_model: str | None, tokens: dict[str, int]
    ) -> None:
        attributes = {"gen_ai.operation.name": operation}
        if summary.provider is not None:
            attributes["gen_ai.provider.name"] = summary.provider
        if response_model is not None:
            attributes["gen_ai.response.model"] = response_model
        if summary.error is not None:
            attributes["error.type"] = summary.error
        self._otel.duration.record((summary.latency_ms or 0.0) / 1000, attributes)
        for kind in ("input", "output"):
            count = tokens.get(f"gen_ai.usage.{kind}_tokens")
            if count is not None:
                self._otel.token_usage.record(count, {**attributes, "gen_ai.token.type": kind})


def _token_attributes(summary: RequestSummary) -> dict[str, int]:
    """GenAI usage attributes: input counts every input token, cached ones included."""
    if summary.input_tokens is None and summary.output_tokens is None:
        return {}
    prompt = (summary.input_tokens or 0) + (summary.cache_read_tokens or 0) + (summary.cache_write_tokens or 0)
    return {"gen_ai.usage.input_tokens": prompt, "gen_ai.usage.output_tokens": summary.output_tokens or 0}
