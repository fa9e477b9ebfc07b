"""What the gateway remembers of each request once it is answered: one summary, fed to the recent-request list
(``GET /rotator/requests``), the request log line and the OpenTelemetry request span.

The gateway opens an :class:`Observation` when a request arrives, the generation endpoint fills in what it
learns (the client's model, the served target and credential, the attempts, usage and cost), and the gateway
closes it once the answer is out. The span ends earlier, before the answer's last byte is handed to the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .otel import RequestSpan, Telemetry
    from .request_log import RequestLog

logger = logging.getLogger("asgi_rotator")


class UsageCounts(Protocol):
    """The canonical usage counts a summary keeps (:class:`~asgi_rotator.protocols.unified.Usage` has them)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


@dataclass(slots=True)
class RequestSummary:
    """One request as ``GET /rotator/requests`` lists it. Credentials appear only masked; nothing here is a secret.

    ``input_tokens`` is uncached input, as everywhere in the gateway's usage (cache reads and writes apart).
    """

    id: str
    time: float
    method: str
    path: str
    protocol: str | None = None
    scope: str | None = None
    operation: str | None = None
    #: The model as the client named it (an alias, ``provider/model`` or a bare name).
    model: str | None = None
    #: The served ``provider/model``, its provider and the masked credential that served it.
    target: str | None = None
    provider: str | None = None
    credential: str | None = None
    status: int = 0
    error: str | None = None
    stream: bool = False
    #: ``{target, credential, outcome, status, duration_ms}`` per upstream attempt, in order.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The summary as the JSON ``GET /rotator/requests`` returns (and the state backend keeps)."""
        return {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "scope": self.scope,
            "protocol": self.protocol,
            "operation": self.operation,
            "model": self.model,
            "target": self.target,
            "provider": self.provider,
            "credential": self.credential,
            "status": self.status,
            "error": self.error,
            "stream": self.stream,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": self.cost_usd,
        }


class Observation:
    """One request's summary and, with OpenTelemetry on, its request span."""

    __slots__ = ("summary", "span", "started", "content")

    def __init__(self, summary: RequestSummary, span: RequestSpan | None, *, capture_content: bool = False) -> None:
        self.summary = summary
        self.span = span
        self.started = time.perf_counter()
        #: The client's input and the answer's text, kept only when ``otel.capture_content`` asks for them.
        self.content: dict[str, Any] | None = {} if capture_content else None

    def requested(self, model: str, operation: str, stream: bool, body: dict[str, Any]) -> None:
        """What the client asked for, once its body is parsed."""
        summary = self.summary
        summary.model, summary.operation, summary.stream = model, operation, stream
        if self.content is not None:
            messages = next((body[k] for k in ("messages", "input", "contents") if k in body), None)
            self.content["gen_ai.input.messages"] = messages

    def answered(self, usage: UsageCounts | None, cost_usd: float | None, text: str) -> None:
        """The served answer's usage, cost and text, before its last byte goes out."""
        summary = self.summary
        if usage is not None:
            summary.input_tokens, summary.output_tokens = usage.input_tokens, usage.output_tokens
            summary.cache_read_tokens, summary.cache_write_tokens = usage.cache_read_tokens, usage.cache_write_tokens
            summary.reasoning_tokens = usage.reasoning_tokens
        summary.cost_usd = cost_usd
        if self.content is not None:
            self.content["gen_ai.output.messages"] = [
                {"role": "assistant", "parts": [{"type": "text", "content": text}]}
            ]

    def end_span(self) -> None:
        """End the request span (once) with everything the summary knows by now. Never raises: it runs just
        before the answer's last byte is sent."""
        span, self.span = self.span, None
        if span is not None:
            self.summary.latency_ms = self.elapsed_ms()
            try:
                span.finish(self.summary, self.content)
            except Exception as exc:
                logger.warning("asgi_rotator: request span not ended: %s: %s", type(exc).__name__, exc)

    def elapsed_ms(self) -> float:
        """Milliseconds since the request arrived."""
        return round((time.perf_counter() - self.started) * 1000, 3)


class RequestObserver:
    """Opens an :class:`Observation` per request and closes it: span, log line, and the recent-request list.

    Args:
        telemetry: OpenTelemetry, or a disabled one.
        log: the request log line.
        keep: takes a finished summary for ``GET /rotator/requests`` (it queues it; the state backend is written
            in the background); its failures are logged, never raised.
        clock: Unix time for the summary's ``time``.
    """

    def __init__(
        self,
        telemetry: Telemetry,
        log: RequestLog,
        keep: Callable[[RequestSummary], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.telemetry = telemetry
        self._log = log
        self._keep = keep
        self._clock = clock

    def begin(self, request_id: str, method: str, path: str, *, protocol: str | None = None) -> Observation:
        """The observation of a request that just arrived."""
        summary = RequestSummary(request_id, self._clock(), method, path, protocol)
        return Observation(summary, self.telemetry.start(summary), capture_content=self.telemetry.capture_content)

    def end(self, observation: Observation) -> None:
        """The request is over: end its span if the answer did not already, log it, and hand its summary to
        the recent-request list."""
        observation.end_span()
        summary = observation.summary
        summary.latency_ms = observation.elapsed_ms()
        self._log.emit(summary)
        try:
            self._keep(summary)
        except Exception as exc:  # a summary must never fail anything
            logger.warning("asgi_rotator: request summary not kept: %s: %s", type(exc).__name__, exc)
