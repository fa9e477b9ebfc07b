"""Configuration of what the gateway tells operators about itself: request logs, OpenTelemetry, and the list
of recent requests behind ``GET /rotator/requests``. (Trace files are ``trace``, in :mod:`.models`.)"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoggingConfig(_Section):
    """One log line per request on the ``asgi_rotator.requests`` logger (level INFO, WARNING for errors)."""

    requests: bool = Field(True, description="Log one line per generation request.")
    format: Literal["text", "json"] = Field(
        "text", description="text (key=value pairs) or json (one JSON object per line)."
    )
    logger: str = Field("asgi_rotator.requests", description="Name of the logger the request lines go to.")


class OtelConfig(_Section):
    """OpenTelemetry spans and metrics (the ``otel`` extra), through the host's providers; never installs one.

    The gateway uses whatever tracer and meter providers the host installed; without ``opentelemetry-api``
    nothing happens.
    """

    enabled: bool = Field(True, description="Emit spans and metrics when opentelemetry-api is installed.")
    capture_content: bool = Field(
        False,
        description="Add the client's input and the answer's text to the request span (gen_ai.input.messages, "
        "gen_ai.output.messages); secrets are still scrubbed.",
    )


class RecentRequestsConfig(_Section):
    """The recent request summaries ``GET /rotator/requests`` lists, a bounded list per scope in the state backend."""

    size: int = Field(200, ge=0, le=10_000, description="Summaries kept per scope (0 keeps none).")
    ttl: int = Field(86400, gt=0, description="Seconds the list lives after its last request.")
