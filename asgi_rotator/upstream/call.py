"""One client request on its way through the executor, and the record of each attempt it made."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..credentials.budget import BudgetHold
from ..credentials.identity import Credential
from ..credentials.pool import Lease
from ..pipeline import AdapterChain, AdapterContext, CacheContext
from ..planner import Target
from ..protocols.base import WireProtocol
from ..protocols.unified import UnifiedRequest, Usage
from ..tracing.observation import Observation
from ..tracing.writer import RequestTrace


@dataclass(slots=True)
class AttemptRecord:
    """One try of one credential on one target, for the attempt history."""

    target: str
    credential: str
    outcome: str  # ok, or the error kind
    status: int = 0
    cooldown: float | None = None
    cooldown_scope: str | None = None
    duration: float = 0.0

    def header_value(self) -> str:
        """``provider/model;credential;outcome`` for the ``x-rotator-attempts`` header."""
        return f"{self.target};{self.credential};{self.outcome}"


@dataclass(slots=True)
class Call:
    """One client request on its way through the executor: what was asked, and what serving it found out."""

    request: UnifiedRequest
    #: The client's protocol (field-cache rules and adapters ask what it can carry).
    protocol: WireProtocol
    scope: str | None = None
    client_headers: Mapping[str, str] = field(default_factory=dict)
    session: str | None = None
    #: Conversation evidence the first admission looks up; what it finds replaces ``session``.
    session_anchors: tuple[str, ...] = ()
    attempts: list[AttemptRecord] = field(default_factory=list)
    target: Target | None = None
    credential: Credential | None = None
    usage: Usage | None = None
    #: The serving attempt's adapter chain and context (its client-response stage runs on the client's body).
    adapters: tuple[AdapterChain, AdapterContext] | None = None
    #: The request's transform trace, when tracing is on; every pass is recorded only behind this check.
    trace: RequestTrace | None = None
    #: The request's summary and OpenTelemetry span, when the gateway observes it.
    observation: Observation | None = None
    started: float = field(default_factory=time.monotonic)
    #: When the serving attempt's upstream answered (streams: its response headers), for TTFB metrics.
    first_byte: float | None = None
    #: When the serving attempt gave its first visible output (streams), for time-to-first-token metrics.
    first_output: float | None = None
    #: The caller's own provider key for this request only (bring-your-own-key), used instead of the pool.
    own_key: str | None = field(default=None, repr=False)
    #: The client key's budget, reserved by the first admission and settled when the request ends.
    budget: BudgetHold | None = None
    #: The serving attempt's lease, held until the batch that finishes the request gives it back.
    lease: Lease | None = None
    #: Usage was recorded (once, by whichever of finish or account came first).
    accounted: bool = False
    #: ``(usage, cost in USD or None, source)``: the cost of ``usage`` as priced once (see ``Generation.cost``).
    priced: tuple[Usage | None, float | None, str] | None = None

    def resolve_session(self, session: str | None) -> None:
        """The session the first admission found (or kept): later attempts need no lookup."""
        self.session, self.session_anchors = session, ()
        if self.trace is not None:
            self.trace.session_id = session

    def client_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` (the client's formatted answer) through the serving provider's client-response adapters."""
        if self.adapters is None or not self.adapters[0].has_client_response:
            return body
        chain, ctx = self.adapters
        return chain.client_response(body, ctx)


@dataclass(slots=True)
class AttemptContext:
    """What one attempt carries from its request to its answer."""

    target: Target
    chain: AdapterChain
    adapter_ctx: AdapterContext
    cache_ctx: CacheContext
    trace: RequestTrace | None
    #: The field-cache rules that run for this attempt (for the trace).
    rules: tuple[str, ...] = ()

    def record_cache(self, pass_name: str, stage: str) -> None:
        """A field-cache pass of the trace: the rules in play and each one's outcome at ``stage``."""
        if self.trace is None:
            return
        outcomes = [entry for entry in self.cache_ctx.report if entry["stage"] == stage]
        self.trace.record(
            pass_name, {"rules": list(self.rules), "outcomes": outcomes}, component="provider", stage=stage
        )
