"""The executor: runs a plan against upstreams, rotating credentials and falling back across targets.

For each target it builds the native request once, then tries credentials until one succeeds. Each failure
is classified and reported to the pool, which cools whatever is at fault; a hard stop (a bad request) goes
straight back to the client. A stream may fall back only until its first visible output; after that a
failure is reported in-band. One budget (``routing.request_timeout``) bounds waits, retries and fallbacks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict

import httpx

from .. import _json
from ..config.models import RotatorConfig
from ..credentials.pool import CredentialPool, Lease
from ..errors import GatewayError, NoCredentialAvailable, UpstreamError
from ..pipeline import AdapterRegistry, FieldCache
from ..planner import Plan, Target
from ..protocols._common import upstream_invalid
from ..protocols.unified import StreamEvent, UnifiedResponse, Usage
from .attempt import AttemptPipeline
from .call import AttemptContext, AttemptRecord, Call
from .failures import Failures
from .tokens import estimate_tokens
from .transport import UpstreamTransport, guarded_chunks

_CONNECT_RETRY_DELAY = 0.2


class Executor:
    """Does the upstream I/O for requests; the planner and the pool decide where it goes."""

    def __init__(
        self,
        config: RotatorConfig,
        pool: CredentialPool,
        transport: UpstreamTransport,
        field_cache: FieldCache,
        adapters: AdapterRegistry,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._pool = pool
        self._transport = transport
        self._pipeline = AttemptPipeline(transport, field_cache, adapters)
        self._clock = clock

    async def generate(self, call: Call, plan: Plan) -> UnifiedResponse:
        """Run a non-streamed request to completion."""
        failures = Failures(call, plan, self._config)
        async for target, lease, budget in self._leases(call, plan, failures):
            started = self._clock()
            http_request = None
            served: int | None = None  # tokens of a success (its lease is given back when the request ends)
            try:
                http_request, attempt = await self._prepare(call, target, lease, budget)
                response = await self._transport.send(http_request, target.protocol, lease.credential)
                try:
                    body = _json.loads(response.content)
                except _json.JSONDecodeError:
                    raise upstream_invalid(target.protocol.name, "the body is not JSON") from None
                if not isinstance(body, dict):
                    raise upstream_invalid(target.protocol.name, "the body is not a JSON object")
                if call.trace is not None:
                    call.trace.record("raw_provider_response", body, direction="response", component="provider")
                result = await self._pipeline.response(attempt, body)
                served = _tokens(result.usage)
            except GatewayError as exc:
                error = exc if http_request is None else as_upstream(exc)
                await failures.record(self._pool, target, lease, error, self._clock() - started)
                continue
            finally:
                if served is None:
                    await self._pool.release(lease)
            call.lease = lease  # given back by the batch that finishes the request
            call.usage = result.usage
            self._served(call, target, lease, started, attempt)
            return result
        raise failures.final()

    async def stream(self, call: Call, plan: Plan) -> AsyncIterator[StreamEvent]:
        """Run a streamed request, yielding canonical events that end in exactly one ``end`` or ``error``."""
        failures = Failures(call, plan, self._config)
        streaming = self._config.streaming
        async for target, lease, budget in self._leases(call, plan, failures):
            started = self._clock()
            held: list[StreamEvent] = []  # events before the first visible output, dropped on fallback
            visible = False
            http_request = None
            try:
                http_request, attempt = await self._prepare(call, target, lease, budget)
                first_byte_by = time.monotonic() + (streaming.ttfb_timeout or budget)
                response = await self._send_stream(http_request, target, lease, streaming.ttfb_timeout)
                call.first_byte = time.monotonic()
                try:
                    reader = self._pipeline.stream_reader(attempt)
                    ttfb_left = max(first_byte_by - time.monotonic(), 0.0) if streaming.ttfb_timeout else None
                    chunks = guarded_chunks(response, ttfb_left, streaming.stall_timeout)
                    async for events in reader.events(chunks):
                        for event in events:
                            if event.kind == "usage" or event.kind == "end" and event.usage is not None:
                                call.usage = event.usage
                            if not visible:
                                if event.kind == "error":
                                    raise event.error
                                if not event.visible and event.kind != "end":
                                    held.append(event)
                                    continue
                                visible = True
                                if event.visible:
                                    call.first_output = time.monotonic()
                                self._served(call, target, lease, started, attempt)
                                for early in held:
                                    yield early
                            if event.kind == "end":
                                if reader.costs and call.usage is not None and call.usage.provider_cost_usd is None:
                                    call.usage.provider_cost_usd = reader.costs[-1]  # the final usage's own cost wins
                                call.lease = lease  # given back by the batch that finishes the request
                                await reader.completed()
                            yield event
                finally:
                    await response.aclose()
            except GatewayError as exc:
                error = exc if http_request is None else as_upstream(exc)
                if visible:
                    failures.after_output(target, lease, error, self._clock() - started)
                    yield StreamEvent("error", error=error)
                    return
                await failures.record(self._pool, target, lease, error, self._clock() - started)
                continue
            finally:
                if call.lease is not lease:
                    await self._pool.release(lease)
            return
        yield StreamEvent("error", error=failures.final())

    async def _prepare(
        self, call: Call, target: Target, lease: Lease, budget: float
    ) -> tuple[httpx.Request, AttemptContext]:
        """The upstream HTTP request for one attempt, and the context its answer is read with."""
        return await self._pipeline.request(call, target, lease, budget)

    async def _send_stream(
        self, request: httpx.Request, target: Target, lease: Lease, ttfb: float | None
    ) -> httpx.Response:
        """Open an upstream stream; the wait for its headers counts toward the first-byte timeout."""
        try:
            async with asyncio.timeout(ttfb):
                return await self._transport.send(request, target.protocol, lease.credential, stream=True)
        except TimeoutError:
            raise UpstreamError(
                "timeout",
                f"The upstream stream did not send a first byte within {ttfb:g}s.",
                details={"stream_timeout": "ttfb"},
            ) from None

    async def count_tokens(self, call: Call, plan: Plan) -> int:
        """Input tokens of the request: counted by the first target's upstream when its protocol can, else
        estimated locally (about four characters a token)."""
        first = Plan(plan.targets[:1])
        native = first.targets[0].protocol.build_count_tokens(call.request, first.targets[0].model)
        if native is None:
            return estimate_tokens(call.request)
        failures = Failures(call, first, self._config)
        async for target, lease, budget in self._leases(call, first, failures):
            started = self._clock()
            try:
                http_request = self._transport.build(
                    target.config, target.protocol, lease.credential, native, call.client_headers, timeout=budget
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

    async def _leases(self, call: Call, plan: Plan, failures: Failures) -> AsyncIterator[tuple[Target, Lease, float]]:
        """Credentials to try, target by target, as the failures so far allow, each with the budget left.

        A credential that failed without being cooled (a 5xx, say) is not tried again for this request; a
        cooled one may be, once its cooldown ends inside the budget.
        """
        budget_end = time.monotonic() + self._config.routing.request_timeout
        scopes: list[str | None] = [call.scope]
        if call.scope is not None and self._config.scopes[call.scope].fallback_to_global:
            scopes.append(None)
        for target in plan.targets:
            for scope in scopes:
                tried: set[str] = set()
                attempts_left = 2 * len(self._pool.credentials(target.provider, scope)) + 1
                while not failures.fatal and not failures.next_target and attempts_left > 0:
                    attempts_left -= 1
                    budget = budget_end - time.monotonic()
                    if budget <= 0:
                        failures.out_of_budget(target)
                        return
                    try:
                        lease = await self._pool.acquire(
                            target.provider,
                            target.model,
                            scope=scope,
                            exclude=frozenset(tried),
                            max_wait=min(self._config.routing.max_wait, budget),
                            session=call.session,
                            anchors=call.session_anchors,
                            budget=call.budget,
                        )
                    except NoCredentialAvailable as exc:
                        failures.unavailable(target, exc)
                        break
                    call.resolve_session(lease.session)
                    failures.cooled = failures.retry_same = False
                    yield target, lease, budget_end - time.monotonic()
                    if failures.retry_same:
                        await asyncio.sleep(_CONNECT_RETRY_DELAY)
                    elif not failures.cooled:
                        tried.add(lease.credential.id)
                if failures.fatal or failures.next_target:
                    break
            failures.next_target = False
            if failures.fatal:
                return

    def _served(self, call: Call, target: Target, lease: Lease, started: float, attempt: AttemptContext) -> None:
        call.target, call.credential = target, lease.credential
        call.adapters = (attempt.chain, attempt.adapter_ctx)
        record = AttemptRecord(target.name, lease.credential.masked, "ok", duration=self._clock() - started)
        call.attempts.append(record)
        if call.trace is not None:
            call.trace.record(
                "routing_target_attempt_succeeded", asdict(record), direction="metadata", component="provider"
            )


def as_upstream(error: GatewayError) -> UpstreamError:
    """Errors that arise once a request went upstream (a stream cut short, a body that does not parse) are the
    upstream's failures, whatever raised them: they may be retried elsewhere and cool what is at fault."""
    if isinstance(error, UpstreamError):
        return error
    return UpstreamError(
        error.kind, error.message, retry_after=error.retry_after, status=error.status, details=error.details
    )


def _tokens(usage: Usage | None) -> int:
    return usage.total_tokens if usage is not None else 0
