"""The executor: runs a plan against upstreams, rotating credentials and falling back across targets.

For each target it builds the native request once, then tries credentials until one succeeds. Each failure
is classified: a rate limit cools the credential, a rejected key is benched, a hard stop (a bad request)
goes straight back to the client, and anything else moves on. A stream may fall back only until the first
visible output; after that, a failure is reported in-band.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from .. import _json
from ..classify import CREDENTIAL_KINDS, HARD_STOPS
from ..config.models import RotatorConfig
from ..credentials.identity import Credential
from ..credentials.pool import CredentialPool, Lease, NoCredentialAvailable
from ..errors import GatewayError, UpstreamError
from ..http.sse import SSEDecoder
from ..protocols._common import upstream_invalid
from ..protocols.unified import (
    Reasoning,
    StreamEvent,
    Text,
    ToolCall,
    ToolResult,
    UnifiedRequest,
    UnifiedResponse,
)
from ..routing.planner import Plan, Target
from .transport import UpstreamTransport, guarded_chunks


@dataclass(slots=True)
class Attempt:
    """One try of one credential on one target, for the attempt history."""

    target: str
    credential: str
    outcome: str  # ok, or the error kind
    status: int = 0
    cooldown: float | None = None
    duration: float = 0.0

    def header_value(self) -> str:
        """``provider/model;credential;outcome`` for the ``x-rotator-attempts`` header."""
        return f"{self.target};{self.credential};{self.outcome}"


@dataclass(slots=True)
class Call:
    """One client request on its way through the executor."""

    request: UnifiedRequest
    family: str
    scope: str | None = None
    client_headers: Mapping[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    target: Target | None = None
    credential: Credential | None = None


class Executor:
    """Does the upstream I/O for requests; the planner and the pool decide where it goes."""

    def __init__(
        self,
        config: RotatorConfig,
        pool: CredentialPool,
        transport: UpstreamTransport,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._pool = pool
        self._transport = transport
        self._clock = clock

    async def generate(self, call: Call, plan: Plan) -> UnifiedResponse:
        """Run a non-streamed request to completion."""
        failures = _Failures(call, plan)
        async for target, lease in self._leases(call, plan, failures):
            started = self._clock()
            try:
                native = target.protocol.build_request(call.request, target.model)
                http_request = self._transport.build(
                    target.config, target.protocol, lease.credential, native, call.client_headers
                )
                response = await self._transport.send(http_request, target.protocol, lease.credential)
                try:
                    body = _json.loads(response.content)
                except _json.JSONDecodeError:
                    raise upstream_invalid(target.protocol.name, "the body is not JSON") from None
                if not isinstance(body, dict):
                    raise upstream_invalid(target.protocol.name, "the body is not a JSON object")
                result = target.protocol.parse_response(body)
            except GatewayError as exc:
                await failures.record(self._pool, target, lease, exc, self._clock() - started)
                continue
            finally:
                await self._pool.release(lease)
            self._served(call, target, lease, started)
            return result
        raise failures.final()

    async def stream(self, call: Call, plan: Plan) -> AsyncIterator[StreamEvent]:
        """Run a streamed request, yielding canonical events that end in exactly one ``end`` or ``error``."""
        failures = _Failures(call, plan)
        streaming = self._config.streaming
        async for target, lease in self._leases(call, plan, failures):
            started = self._clock()
            held: list[StreamEvent] = []  # events before the first visible output, dropped on fallback
            visible = False
            try:
                native = target.protocol.build_request(call.request, target.model)
                http_request = self._transport.build(
                    target.config, target.protocol, lease.credential, native, call.client_headers
                )
                response = await self._transport.send(http_request, target.protocol, lease.credential, stream=True)
                try:
                    parser, decoder = target.protocol.stream_parser(), SSEDecoder()
                    async for chunk in guarded_chunks(response, streaming.ttfb_timeout, streaming.stall_timeout):
                        for event in _parse(parser, decoder.feed(chunk)):
                            if event.kind == "error" and not visible:
                                raise event.error
                            if not visible:
                                if not event.visible and event.kind not in ("end", "error"):
                                    held.append(event)
                                    continue
                                visible = True
                                self._served(call, target, lease, started)
                                for early in held:
                                    yield early
                            yield event
                    for event in _parse(parser, decoder.flush()) + parser.finish():
                        if event.kind == "error" and not visible:
                            raise event.error
                        if not visible:
                            visible = True
                            self._served(call, target, lease, started)
                            for early in held:
                                yield early
                        yield event
                finally:
                    await response.aclose()
            except GatewayError as exc:
                if visible:
                    yield StreamEvent("error", error=exc)
                    return
                await failures.record(self._pool, target, lease, exc, self._clock() - started)
                continue
            finally:
                await self._pool.release(lease)
            return
        error = failures.final()
        yield StreamEvent("error", error=error)

    async def count_tokens(self, call: Call, plan: Plan) -> int:
        """Input tokens of the request: counted by the first target's upstream when its protocol can, else
        estimated locally (about four characters a token)."""
        first = Plan(plan.targets[:1])
        native = first.targets[0].protocol.build_count_tokens(call.request, first.targets[0].model)
        if native is None:
            return estimate_tokens(call.request)
        failures = _Failures(call, first)
        async for target, lease in self._leases(call, first, failures):
            started = self._clock()
            try:
                http_request = self._transport.build(
                    target.config, target.protocol, lease.credential, native, call.client_headers
                )
                response = await self._transport.send(http_request, target.protocol, lease.credential)
                return target.protocol.parse_count_tokens(_json.loads(response.content))
            except GatewayError as exc:
                await failures.record(self._pool, target, lease, exc, self._clock() - started)
            except (_json.JSONDecodeError, KeyError, TypeError):
                raise upstream_invalid(target.protocol.name, "the token count is missing") from None
            finally:
                await self._pool.release(lease)
        raise failures.final()

    async def _leases(self, call: Call, plan: Plan, failures: _Failures) -> AsyncIterator[tuple[Target, Lease]]:
        """Credentials to try, target by target, as the failures so far allow.

        A credential that failed without being cooled (a 5xx, say) is not tried again for this request; a
        cooled one may be, once its cooldown ends inside the budget.
        """
        budget_end = time.monotonic() + self._config.routing.request_timeout
        for target in plan.targets:
            tried: set[str] = set()
            attempts_left = 2 * len(self._pool.credentials(target.provider, call.scope)) + 1
            while not failures.fatal and attempts_left > 0:
                attempts_left -= 1
                max_wait = min(self._config.routing.max_wait, budget_end - time.monotonic())
                try:
                    lease = await self._pool.acquire(
                        target.provider, scope=call.scope, exclude=frozenset(tried), max_wait=max(max_wait, 0.0)
                    )
                except NoCredentialAvailable as exc:
                    failures.unavailable(target, exc)
                    break
                failures.cooled = False
                yield target, lease
                if not failures.cooled:
                    tried.add(lease.credential.id)
                if failures.next_target:
                    failures.next_target = False
                    break
            if failures.fatal:
                return

    def _served(self, call: Call, target: Target, lease: Lease, started: float) -> None:
        call.target, call.credential = target, lease.credential
        call.attempts.append(Attempt(target.name, lease.credential.masked, "ok", duration=self._clock() - started))


def estimate_tokens(request: UnifiedRequest) -> int:
    """A local estimate of input tokens, for protocols whose upstream cannot count them."""
    chars = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text | Reasoning):
                chars += len(part.text)
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ToolResult):
                chars += sum(len(p.text) for p in part.content if isinstance(p, Text))
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(_json.dumps(tool.parameters or {}))
    return max(1, math.ceil(chars / 4))


def _parse(parser: object, events: list[tuple[str | None, str]]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for name, data in events:
        out += parser.feed(name, data)  # type: ignore[attr-defined]
    return out


class _Failures:
    """What went wrong so far in one request, and what it means for the next attempt."""

    def __init__(self, call: Call, plan: Plan) -> None:
        self.call = call
        self.plan = plan
        self.errors: list[GatewayError] = []
        self.targets: list[str] = []
        self.fatal: GatewayError | None = None
        self.next_target = False
        #: The last failure put its credential in a cooldown (which then keeps it out of selection).
        self.cooled = False

    async def record(
        self, pool: CredentialPool, target: Target, lease: Lease, error: GatewayError, duration: float
    ) -> None:
        """Account for a failed attempt: cool or bench the credential, and decide what may come next."""
        kind = error.kind
        cooldown: float | None = None
        if kind in ("rate_limit", "quota_exceeded"):
            cooldown = await pool.cool_down(lease.credential, error.retry_after or pool.default_cooldown, kind)
            self.cooled = True
        elif kind in CREDENTIAL_KINDS:
            cooldown = await pool.cool_down(lease.credential, pool.bench_seconds, kind, bench=True)
            self.cooled = True
        elif kind == "not_found" and isinstance(error, UpstreamError):
            self.next_target = True  # this provider lacks the model; another target may have it
        elif kind in HARD_STOPS or not isinstance(error, UpstreamError):
            self.fatal = error  # the request itself is at fault: no other credential or target can help
        elif kind in ("api_connection", "timeout", "upstream_invalid"):
            self.next_target = True  # the provider is down or broken, not this credential
        group = self.plan.group
        if group is not None and self.fatal is None and (kind in group.stop_on or kind not in group.failover_on):
            self.fatal = error
        status = error.upstream_status if isinstance(error, UpstreamError) else 0
        self.call.attempts.append(Attempt(target.name, lease.credential.masked, kind, status, cooldown, duration))
        self._add(target, error)

    def unavailable(self, target: Target, error: NoCredentialAvailable) -> None:
        self._add(target, error)

    def _add(self, target: Target, error: GatewayError) -> None:
        self.errors.append(error)
        if target.name not in self.targets:
            self.targets.append(target.name)

    def final(self) -> GatewayError:
        """The error the client gets once every target is exhausted."""
        if self.fatal is not None:
            error = self.fatal
        elif not self.errors:
            error = GatewayError("no_credentials", "No credentials are configured for this model.")
        elif all(e.kind in CREDENTIAL_KINDS or isinstance(e, NoCredentialAvailable) for e in self.errors) and any(
            e.kind in CREDENTIAL_KINDS for e in self.errors
        ):
            # The upstream rejected our keys: the gateway's problem, not the client's (a 401 would make the
            # client's SDK blame its own key).
            error = GatewayError(
                "server_error",
                "Every credential for this model was rejected by the upstream (401/403); check the provider keys.",
                status=502,
            )
        else:
            error = self.errors[-1]
            if isinstance(error, UpstreamError) and error.kind in ("rate_limit", "quota_exceeded"):
                error = GatewayError("no_credentials", error.message, retry_after=error.retry_after)
        error.details["targets_tried"] = list(self.targets)
        return error
