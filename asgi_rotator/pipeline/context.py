"""The field cache's per-attempt objects: the context of one exchange, and the collector of one stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..protocols.base import WireProtocol
from ..protocols.unified import StreamEvent, UnifiedRequest
from .rules import REQUEST_SOURCES, Extraction, RuleRunner, StreamState

#: How a collector stores what it found: the engine's store.
Store = Callable[["CacheContext", list[tuple[RuleRunner, Extraction]]], Awaitable[int]]


@dataclass(slots=True)
class CacheContext:
    """One attempt's exchange: who it is for (the scope components) and what the engine saw of it."""

    provider: str
    model: str
    protocol: WireProtocol  # the provider's protocol
    client_protocol: WireProtocol
    credential_id: str | None
    session_id: str | None
    conversation_id: str | None = None
    scope: str | None = None  # the client key's scope; private scopes never share values with global ones
    #: The requests as sent, kept for rules whose source is a request (set by the inject calls).
    request_body: dict[str, Any] | None = field(default=None, init=False)
    unified_request: UnifiedRequest | None = field(default=None, init=False)
    #: The gateway expanded a Responses history itself: no provider continuation id may be injected.
    local_lineage: bool = field(default=False, init=False)
    #: What each rule did, for the trace: {rule, stage, outcome: injected | stored | skipped, count | reason}.
    report: list[dict[str, Any]] = field(default_factory=list, init=False)

    def note(self, runner: RuleRunner, stage: str, result: int | str) -> None:
        """Record a rule's outcome (a count of changes, or a skip reason)."""
        if isinstance(result, str):
            self.report.append({"rule": runner.rule.name, "stage": stage, "outcome": "skipped", "reason": result})
        elif result:
            outcome = "stored" if stage == "extract" else "injected"
            self.report.append({"rule": runner.rule.name, "stage": stage, "outcome": outcome, "count": result})


@dataclass(frozen=True, slots=True)
class ActiveRules:
    """The rules of one (provider, provider protocol, client protocol), split by the call they act in."""

    names: tuple[str, ...] = ()
    unified_inject: tuple[RuleRunner, ...] = ()
    raw_inject: tuple[RuleRunner, ...] = ()
    response: tuple[RuleRunner, ...] = ()
    request: tuple[RuleRunner, ...] = ()
    raw_stream: tuple[RuleRunner, ...] = ()
    unified_stream: tuple[RuleRunner, ...] = ()

    @classmethod
    def of(cls, runners: Sequence[RuleRunner]) -> ActiveRules:
        def where(test: Any) -> tuple[RuleRunner, ...]:
            return tuple(r for r in runners if test(r))

        return cls(
            tuple(r.rule.name for r in runners),
            where(lambda r: r.rule.inject.target != "request"),
            where(lambda r: r.rule.inject.target == "request"),
            where(lambda r: r.sources & {"response", "unified_response"}),
            where(lambda r: r.sources & REQUEST_SOURCES),
            where(lambda r: "stream_event" in r.sources),
            where(lambda r: "unified_stream_event" in r.sources),
        )


class StreamCollector:
    """Collects one streamed attempt's values as events pass; stores them only on :meth:`complete`."""

    __slots__ = ("_ctx", "_done", "_raw", "_request", "_store", "_unified")

    def __init__(self, store: Store, ctx: CacheContext, active: ActiveRules) -> None:
        self._store, self._ctx, self._done = store, ctx, False
        self._raw: list[tuple[RuleRunner, StreamState]] = [(r, r.stream_state()) for r in active.raw_stream]
        self._unified: list[tuple[RuleRunner, StreamState]] = [(r, r.stream_state()) for r in active.unified_stream]
        self._request = active.request

    @property
    def wants_raw(self) -> bool:
        """True when some rule reads raw stream payloads (else the caller need not parse them for us)."""
        return bool(self._raw)

    @property
    def wants_unified(self) -> bool:
        """True when some rule reads canonical stream events."""
        return bool(self._unified)

    def raw_event(self, data: dict[str, Any]) -> None:
        """One raw upstream stream payload (a decoded JSON object)."""
        for _, state in self._raw:
            state.feed(data)

    def unified_event(self, event: StreamEvent) -> None:
        """One canonical stream event."""
        for _, state in self._unified:
            state.feed(event)

    async def complete(self) -> int:
        """The stream reached its success terminal: store what it gave (once); returns how many values."""
        if self._done or not (self._raw or self._unified or self._request):
            return 0
        self._done = True
        found = [(runner, state.result()) for runner, state in (*self._raw, *self._unified)]
        return await self._store(self._ctx, [*found, *from_requests(self._ctx, self._request)])


def from_requests(ctx: CacheContext, runners: Iterable[RuleRunner]) -> list[tuple[RuleRunner, Extraction]]:
    """What the request-side rules extract from the requests as sent."""
    found: list[tuple[RuleRunner, Extraction]] = []
    for runner in runners:
        document = ctx.request_body if "request" in runner.sources else ctx.unified_request
        if document is not None:
            found.append((runner, runner.extract(document, request_side=True)))
    return found
