"""The executor: runs a plan against upstreams, rotating credentials and falling back across targets.

For each target it builds the native request once, then tries credentials until one succeeds. Each failure
is classified and reported to the pool, which cools whatever is at fault; a hard stop (a bad request) goes
straight back to the client. A stream may fall back only until its first visible output; after that a
failure is reported in-band. One budget (``routing.request_timeout``) bounds waits, retries and fallbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import TypeVar

import httpx

from .. import _json
from ..config.models import RotatorConfig
from ..credentials.pool import CredentialPool, Lease, own_lease
from ..errors import GatewayError, NoCredentialAvailable, UpstreamError
from ..pipeline import AdapterRegistry, FieldCache
from ..planner import Plan, Target
from ..protocols._common import upstream_invalid
from ..protocols.accumulate import StreamAccumulator
from ..protocols.unified import StreamEvent, UnifiedResponse, Usage
from . import decisions
from .attempt import AttemptPipeline
from .call import AttemptContext, AttemptRecord, Call
from .failures import Failures
from .oauth import OAuthCredentials
from .stream_reader import StreamReader
from .tokens import estimate_tokens
from .transport import UpstreamTransport, drain, guarded_chunks

T = TypeVar("T")
#: How an attempt's request goes out: read whole, or opened as a stream.
Sender = Callable[[httpx.Request, Target, Lease], Awaitable[T]]

#: One try of a non-chat request with one leased credential: its result, and the tokens it served (or None).
Attempt = Callable[[Target, Lease, float], Awaitable[tuple[T, int | None]]]


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
        oauth: OAuthCredentials | None = None,
    ) -> None:
        self._config = config
        self._oauth = oauth
        self._pool = pool
        self._transport = transport
        self._pipeline = AttemptPipeline(
            transport, field_cache, adapters, max_event_bytes=config.server.max_sse_event_bytes
        )
        self._clock = clock

    async def generate(self, call: Call, plan: Plan) -> UnifiedResponse:
        """Run a non-streamed request to completion."""
        failures = Failures(call, plan, self._config)
        async with contextlib.aclosing(self._leases(call, plan, failures)) as leases:
            async for target, lease, budget in leases:
                started = self._clock()
                http_request = None
                served: int | None = None  # tokens of a success (its lease is given back when the request ends)
                try:
                    http_request, attempt, (content, content_type) = await self._authorized(
                        call, target, lease, budget, self._read(budget)
                    )
                    if content_type.startswith("text/event-stream"):
                        result = await self._accumulated(attempt, content)  # an upstream that only streams
                    else:
                        try:
                            body = _json.loads(content)
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
        async with contextlib.aclosing(self._leases(call, plan, failures)) as leases:
            async for target, lease, budget in leases:
                started = self._clock()
                held: list[StreamEvent] = []  # events before the first visible output, dropped on fallback
                visible = ended = False
                http_request = None
                try:
                    first_byte_by = time.monotonic() + (streaming.ttfb_timeout or budget)
                    http_request, attempt, response = await self._authorized(call, target, lease, budget, self._opened)
                    call.first_byte = time.monotonic()
                    decisions.stream_first_byte(call, target, self._clock() - started)
                    try:
                        reader = self._pipeline.stream_reader(attempt)
                        ttfb_left = max(first_byte_by - time.monotonic(), 0.0) if streaming.ttfb_timeout else None
                        chunks = guarded_chunks(response, ttfb_left, streaming.stall_timeout)
                        async with contextlib.aclosing(reader.events(chunks)) as batches:
                            async for events in batches:
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
                                        await self._stream_ended(call, reader, lease)
                                        ended = True
                                    yield event
                    finally:
                        if ended:
                            await drain(chunks)
                        await response.aclose()
                except GatewayError as exc:
                    error = exc if http_request is None else as_upstream(exc)
                    decisions.stream_timeout(call, target, error)
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

    @staticmethod
    async def _stream_ended(call: Call, reader: StreamReader, lease: Lease) -> None:
        """A stream reached its success terminal: its cost, its lease to give back when the request ends, and
        what its field-cache rules collected."""
        if reader.costs and call.usage is not None and call.usage.provider_cost_usd is None:
            call.usage.provider_cost_usd = reader.costs[-1]  # the final usage's own cost wins
        call.lease = lease  # given back by the batch that finishes the request
        await reader.completed()

    async def exchange(self, call: Call, plan: Plan, attempt: Attempt[T]) -> T:
        """Run a request that is not a chat generation (embeddings, passthrough) through the same rotation:
        ``attempt`` does one try with one leased credential and returns its result and the tokens it served;
        it raises :class:`UpstreamError` for what the upstream did and a plain :class:`GatewayError` for what
        the request itself got wrong (a hard stop)."""
        failures = Failures(call, plan, self._config)
        async with contextlib.aclosing(self._leases(call, plan, failures)) as leases:
            async for target, lease, budget in leases:
                started = self._clock()
                try:
                    result, _ = await attempt(target, lease, budget)
                    call.lease = lease  # given back, with the tokens it served, by the batch that accounts the call
                except GatewayError as exc:
                    await failures.record(self._pool, target, lease, exc, self._clock() - started)
                    continue
                finally:
                    if call.lease is not lease:
                        await self._pool.release(lease)
                call.target, call.credential = target, lease.credential
                record = AttemptRecord(target.name, lease.credential.masked, "ok", duration=self._clock() - started)
                call.attempts.append(record)
                if call.trace is not None:
                    call.trace.record(
                        "routing_target_attempt_succeeded", asdict(record), direction="metadata", component="provider"
                    )
                return result
        raise failures.final()

    async def _prepare(
        self, call: Call, target: Target, lease: Lease, budget: float
    ) -> tuple[httpx.Request, AttemptContext]:
        """The upstream HTTP request for one attempt, and the context its answer is read with."""
        if self._oauth is not None:
            lease.credential = await self._oauth.live(lease.credential)
        return await self._pipeline.request(call, target, lease, budget)

    async def _authorized(
        self, call: Call, target: Target, lease: Lease, budget: float, send: Sender[T]
    ) -> tuple[httpx.Request, AttemptContext, T]:
        """Prepare and send one attempt; a 401 to an OAuth credential renews its token and sends once more
        (a second 401 is an ordinary failure, which benches the credential)."""
        http_request, attempt = await self._prepare(call, target, lease, budget)
        try:
            return http_request, attempt, await send(http_request, target, lease)
        except UpstreamError as exc:
            if exc.upstream_status != 401 or self._oauth is None or not self._oauth.manages(lease.credential):
                raise
        if call.trace is not None:
            call.trace.record("oauth_token_rejected", {"credential": lease.credential.masked}, direction="error")
        lease.credential = await self._oauth.after_rejection(lease.credential)
        http_request, attempt = await self._pipeline.request(call, target, lease, budget)
        return http_request, attempt, await send(http_request, target, lease)

    def _read(self, budget: float) -> Sender[tuple[bytes, str]]:
        """Send a request and read its whole answer within ``budget`` seconds."""

        async def read(request: httpx.Request, target: Target, lease: Lease) -> tuple[bytes, str]:
            return await self._transport.send(request, target.protocol, lease.credential, deadline=budget)

        return read

    async def _opened(self, request: httpx.Request, target: Target, lease: Lease) -> httpx.Response:
        """Open an upstream stream; the wait for its headers counts toward the first-byte timeout."""
        ttfb = self._config.streaming.ttfb_timeout
        try:
            async with asyncio.timeout(ttfb):
                return await self._transport.open_stream(request, target.protocol, lease.credential)
        except TimeoutError:
            raise UpstreamError(
                "timeout",
                f"The upstream stream did not send a first byte within {ttfb:g}s.",
                details={"stream_timeout": "ttfb"},
            ) from None

    async def _accumulated(self, attempt: AttemptContext, content: bytes) -> UnifiedResponse:
        """A whole SSE answer to a non-streamed request, read as a stream and gathered into one answer."""

        async def once() -> AsyncIterator[bytes]:
            yield content

        reader = self._pipeline.stream_reader(attempt)
        gathered = StreamAccumulator("", attempt.target.model)
        async for events in reader.events(once()):
            for event in events:
                if event.kind == "error" and event.error is not None:
                    raise event.error
                gathered.feed(event)
        await reader.completed()
        return gathered.response()

    async def count_tokens(self, call: Call, plan: Plan) -> int:
        """Input tokens of the request: counted by the first target's upstream when its protocol can, else
        estimated locally (about four characters a token)."""
        first = Plan(plan.targets[:1])
        if first.targets[0].protocol.build_count_tokens(call.request, first.targets[0].model) is None:
            return estimate_tokens(call.request)
        failures = Failures(call, first, self._config)
        async with contextlib.aclosing(self._leases(call, first, failures)) as leases:
            async for target, lease, budget in leases:
                started = self._clock()
                try:
                    if self._oauth is not None:
                        lease.credential = await self._oauth.live(lease.credential)
                    http_request = self._pipeline.count_tokens_request(call, target, lease, budget)
                    content, _ = await self._transport.send(
                        http_request, target.protocol, lease.credential, deadline=budget
                    )
                    return target.protocol.parse_count_tokens(_json.loads(content))
                except GatewayError as exc:
                    await failures.record(self._pool, target, lease, exc, self._clock() - started)
                except (_json.JSONDecodeError, KeyError, TypeError):
                    raise upstream_invalid(target.protocol.name, "the token count is missing") from None
                finally:
                    await self._pool.release(lease)
        raise failures.final()

    async def _leases(self, call: Call, plan: Plan, failures: Failures) -> AsyncGenerator[tuple[Target, Lease, float]]:
        """Credentials to try, target by target, as the failures so far allow, each with the budget left.

        A credential that failed without being cooled (a 5xx, say) is not tried again for this request; a
        cooled one may be, once its cooldown ends inside the budget. Callers close it with ``contextlib.aclosing``
        when they stop early: left to the loop's finalizer hook, an abandoned async generator costs a scheduled
        task per request.
        """
        budget_end = time.monotonic() + self._config.routing.request_timeout
        if call.own_key is not None:
            # The caller's own key goes to the provider it named and nowhere else: no pool, no other provider.
            provider = plan.targets[0].provider
            for target in plan.targets:
                if target.provider == provider and not failures.fatal and time.monotonic() < budget_end:
                    yield target, own_lease(provider, target.model, call.own_key), budget_end - time.monotonic()
            return
        scopes: list[str | None] = [call.scope]
        if call.scope is not None and self._config.scopes[call.scope].fallback_to_global:
            scopes.append(None)
        decisions.routing_decision(call, plan, self._config.routing.aliases)
        previous: Target | None = None
        for target in plan.targets:
            if previous is not None:
                decisions.fallback_selected(call, previous, target, failures.errors)
            previous = target
            for scope in scopes:
                tried: set[str] = set()
                per_credential = 2 + self._config.retries.same_credential + self._config.retries.connect
                attempts_left = per_credential * len(self._pool.credentials(target.provider, scope)) + 1
                while not failures.fatal and not failures.next_target and attempts_left > 0:
                    attempts_left -= 1
                    budget = budget_end - time.monotonic()
                    if budget <= 0:
                        failures.out_of_budget(target)
                        return
                    max_wait = min(self._config.routing.max_wait, budget)
                    try:
                        lease = await self._pool.acquire(
                            target.provider,
                            target.model,
                            scope=scope,
                            exclude=frozenset(tried),
                            max_wait=max_wait,
                            session=call.session,
                            anchors=call.session_anchors,
                            budget=call.budget,
                        )
                    except NoCredentialAvailable as exc:
                        decisions.cooldown_wait_exceeds_budget(call, target, exc, max_wait)
                        failures.unavailable(target, exc)
                        break
                    call.resolve_session(lease.session)
                    failures.cooled = failures.retry_same = False
                    decisions.attempt_started(call, target, lease, scope)
                    yield target, lease, budget_end - time.monotonic()
                    if failures.retry_same:
                        await asyncio.sleep(min(failures.retry_delay, max(budget_end - time.monotonic(), 0.0)))
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
        decisions.attempt_succeeded(call, target, record)
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
