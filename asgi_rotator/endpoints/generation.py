"""Generation: one request from parsed client body to formatted answer, JSON or SSE.

The flow is one-way: the planner picks targets, the session tracker names the conversation, the executor
does the upstream work, and the client protocol formats what comes back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, replace
from typing import Any

from .. import _json
from ..caller import OWN_KEY_HEADER, Caller
from ..credentials.pool import CredentialPool
from ..error_kinds import HARD_STOPS
from ..errors import BackendError, GatewayError
from ..http.asgi import send_json
from ..http.event_stream import StreamOutcome, send_event_stream
from ..planner import Plan, Planner
from ..protocols._common import new_id, now
from ..protocols.accumulate import StreamAccumulator
from ..protocols.base import StreamFormatter, WireProtocol
from ..protocols.fidelity import applicable, lost_meaning, refusal, warnings_header
from ..protocols.registry import ProtocolRegistry
from ..protocols.same_protocol import PassthroughFormatter, passes_through, rewriter
from ..protocols.unified import StreamEvent, UnifiedRequest, UnifiedResponse
from ..responses_api.service import ResponsesService
from ..responses_api.store import StoredResponse
from ..sessions import SessionTracker
from ..state.base import StateBackend, WriteOp
from ..stream_stats import StreamStats
from ..tracing.observation import Observation
from ..tracing.writer import RequestTrace
from ..types import Receive, Send
from ..upstream.call import Call
from ..upstream.executor import Executor
from ..usage.accounting import Accounting
from .base import Request
from .output_protocol import provider_default

logger = logging.getLogger("asgi_rotator")


class Generation:
    """Runs generate and count-tokens requests for every client protocol.

    Args:
        planner: turns the requested model into targets.
        sessions: names the conversation a request belongs to.
        responses: Responses API lineage and storage.
        executor: does the upstream work.
        accounting: budgets before, usage and cost after.
        pool: gives the serving credential's slot back when the request finishes.
        backend: where the batch that finishes a request is written.
        heartbeat_interval: seconds of stream silence before a heartbeat (None disables them).
        protocols: the app's protocols, for a provider's ``default_output_protocol``.
    """

    def __init__(
        self,
        planner: Planner,
        sessions: SessionTracker,
        responses: ResponsesService,
        executor: Executor,
        accounting: Accounting,
        pool: CredentialPool,
        backend: StateBackend,
        *,
        heartbeat_interval: float | None,
        protocols: ProtocolRegistry,
    ) -> None:
        self._planner = planner
        self._sessions = sessions
        self._responses = responses
        self._executor = executor
        self._accounting = accounting
        self._pool = pool
        self._backend = backend
        self._heartbeat_interval = heartbeat_interval
        self._protocols = protocols

    async def generate(self, request: Request, send: Send) -> None:
        """``POST`` a generation in any client protocol; answers JSON or an event stream."""
        route, protocol = request.route, request.protocol
        body = await request.json()
        if protocol.stores_responses:
            body = await self._responses.resolve_references(body, request.caller)
        parsed = protocol.parse_request(body, model=route.model, stream=route.stream)
        call, plan = await self.prepare(
            protocol, parsed, request.caller, request.headers, trace=request.trace, observation=request.observation
        )
        if not request.output_requested:
            request.output_protocol = provider_default(self._protocols, plan)
        call.protocol = request.answer_protocol
        if parsed.stream:
            await self._stream(call, plan, request.caller, send, request.receive)
        else:
            await self._complete(call, plan, request.caller, send)

    async def count_tokens(self, request: Request, send: Send) -> None:
        """``POST`` a token count (Anthropic ``count_tokens``, Gemini ``countTokens``)."""
        route, protocol = request.route, request.protocol
        parsed = protocol.parse_request(await request.json(), model=route.model, operation="count_tokens")
        call, plan = await self.prepare(
            protocol, parsed, request.caller, request.headers, trace=request.trace, observation=request.observation
        )
        call.budget = None  # counting tokens spends no budget
        count = await self._executor.count_tokens(call, plan)
        await send_json(send, 200, protocol.format_count_tokens(count))

    async def prepare(
        self,
        protocol: WireProtocol,
        request: UnifiedRequest,
        caller: Caller,
        headers: Mapping[str, str],
        *,
        unstored: StoredResponse | None = None,
        trace: RequestTrace | None = None,
        observation: Observation | None = None,
    ) -> tuple[Call, Plan]:
        """Everything before the upstream: Responses lineage, the plan, the session, the caller's budget hold
        (reserved by the first admission)."""
        if observation is not None:
            observation.requested(request.model, request.operation, request.stream, request.raw)
        inherited = None
        if protocol.stores_responses:
            await self._responses.check_room(request, caller)
            inherited = await self._responses.expand(request, caller, unstored=unstored)
            if trace is not None and request.previous_response_id:
                trace.record(
                    "responses_previous_response_loaded",
                    {"previous_response_id": request.previous_response_id, "session": inherited},
                    direction="metadata",
                    messages_after_expansion=len(request.messages),
                )
        plan = honoured(self._planner.plan(request.model, protocol.family), request)
        session, anchors = self._sessions.resolve(request, headers, caller.scope, inherited=inherited)
        if trace is not None:
            trace.session_id = session
            trace.record(
                "parsed_unified_request",
                request,
                warnings=[w.message for w in request.warnings],
                targets=[t.name for t in plan.targets],
            )
        own_key = headers.get(OWN_KEY_HEADER)
        call = Call(
            request,
            protocol,
            caller.scope,
            headers,
            session,
            anchors,
            trace=trace,
            observation=observation,
            own_key=own_key,
        )
        call.budget = self._accounting.quotas.hold(caller.key_id, caller.budget)
        return call, plan

    async def finish(
        self,
        call: Call,
        caller: Caller,
        response: UnifiedResponse,
        body: dict[str, Any] | None = None,
        stream: StreamStats | None = None,
        *,
        unstored: StoredResponse | None = None,
    ) -> StoredResponse | None:
        """Everything the request leaves behind, in one write batch: the credential's slot back with its
        tokens, session evidence, the stored response, usage and the budget settled (the executor keeps
        provider state through the field cache).

        It runs before the answer's last byte goes out, so a client that continues at once finds it all. A
        failing backend is logged, never raised: the answer was served.
        ``unstored`` is the WebSocket connection's continuable response (see :meth:`record`).
        """
        warnings = applicable(call.request, call.target.protocol if call.target else None)
        if warnings and call.trace is not None:
            call.trace.record("conversion_warnings", [asdict(w) for w in warnings], direction="metadata")
        ops: list[WriteOp] = []
        if response.stop_reason != "error":  # a failed stream never sets session anchors
            text, call_ids = response.text, [c.id for c in response.tool_calls]
            ops += self._sessions.remember_ops(call.session, call.scope, text, call_ids)
        record = self.record(call, caller, response, body, unstored=unstored)
        if record is not None:
            ops += self._responses.save_ops(record, call.request)
            if call.trace is not None:
                stored = call.request.store is not False
                call.trace.record(
                    "responses_stored_response" if stored else "responses_store_skipped",
                    {"id": record.id, "previous_response_id": record.previous_response_id, "session": record.session},
                    direction="metadata",
                    reason=None if stored else "store: false",
                )
        ops += self._settle_ops(call, caller, stream)
        await self._write(ops)
        return record

    def record(
        self,
        call: Call,
        caller: Caller,
        response: UnifiedResponse,
        body: dict[str, Any] | None = None,
        *,
        unstored: StoredResponse | None = None,
    ) -> StoredResponse | None:
        """The Responses record of ``response``, not yet saved (None for protocols that store nothing); one
        that continues ``unstored`` takes that response's items in (it lives only on its WebSocket)."""
        if not call.protocol.stores_responses:
            return None
        if body is None:
            body = call.protocol.format_response(response, call.request)
        return self._responses.stored(call.request, body, caller, call.session, unstored=unstored)

    async def account(self, call: Call, caller: Caller, failed: bool, stream: StreamStats | None = None) -> None:
        """Metrics of the request (after the answer went out), and whatever :meth:`finish` did not settle: a
        failed request's budget reservation, a stream whose client went away (it still used what the upstream
        produced until then)."""
        await self._write(self._settle_ops(call, caller, stream))
        if stream is not None and call.trace is not None:
            if stream.outcome == "disconnected":
                call.trace.record("stream_cancelled", {"by": "client"}, direction="metadata", component="client")
            call.trace.record("stream_metrics", stream.summary(), direction="metadata", component="client")
        if call.target is None:
            return
        if call.trace is not None:
            cost, source = self.cost(call)
            call.trace.record(
                "usage_accounting_summary",
                call.usage,
                direction="metadata",
                component="provider",
                cost_usd=cost,
                cost_source=source,
            )
        outcome = "error" if failed else "disconnected" if stream and stream.outcome == "disconnected" else "ok"
        self._accounting.prometheus.observe_request(
            provider=call.target.provider,
            model=call.target.model,
            outcome=outcome,
            latency=time.monotonic() - call.started,
            ttfb=call.first_output - call.started if call.first_output is not None else None,
        )

    def _settle_ops(self, call: Call, caller: Caller, stream: StreamStats | None) -> list[WriteOp]:
        """The serving lease back, usage recorded and the budget settled, each once; a request nobody served
        gives its budget reservation back."""
        ops: list[WriteOp] = []
        if call.lease is not None:
            tokens = call.usage.total_tokens if call.usage is not None else 0
            ops += self._pool.release_ops(call.lease, served_tokens=tokens)
            call.lease = None
        if call.target is None or call.accounted:
            return ops + (call.budget.cancel_ops() if call.budget is not None else [])
        call.accounted = True
        usage_ops = self._accounting.record_ops(
            provider=call.target.provider,
            model=call.target.model,
            credential=call.credential.masked if call.credential else None,
            client_key=caller.key_id,
            scope=caller.scope,
            usage=call.usage,
            cost=self.cost(call),
            budget=call.budget,
            stream=stream,
        )
        return ops + usage_ops

    def cost(self, call: Call) -> tuple[float | None, str]:
        """``(cost in USD or None, source)`` of the call's usage on its target, priced once per usage (the
        answer's header, its summary, the ledger and the trace all ask)."""
        priced = call.priced
        if priced is None or priced[0] is not call.usage:
            assert call.target is not None
            cost, source = self._accounting.cost(call.target.provider, call.target.model, call.usage)
            priced = call.priced = (call.usage, cost, source)
        return priced[1], priced[2]

    async def _write(self, ops: list[WriteOp]) -> None:
        if not ops:
            return
        try:
            await self._backend.write_many(ops)
        except BackendError as exc:
            logger.error("asgi_rotator: a finished request's state was not written: %s", exc)

    def observe_answer(self, call: Call, response: UnifiedResponse) -> None:
        """The answer's usage, cost and (when captured) text go to the request's summary before its last byte
        is sent, which is when the request span ends."""
        observation = call.observation
        if observation is None or call.target is None:
            return
        observation.answered(call.usage, self.cost(call)[0], response.text)

    def stream_events(self, call: Call, plan: Plan) -> AsyncIterator[StreamEvent]:
        """The canonical events of a streamed call (the WebSocket transport reads them directly)."""
        return self._executor.stream(call, plan)

    async def _complete(self, call: Call, plan: Plan, caller: Caller, send: Send) -> None:
        failed = True
        try:
            response = await self._executor.generate(call, plan)
            response.id = new_id(call.protocol.id_prefix)
            response.created = response.created or now()
            body = call.client_body(answer_body(call, response))
            headers = served_headers(call)
            if call.target is not None:
                cost, _ = self.cost(call)
                if cost is not None:
                    headers.append(("x-rotator-cost-usd", f"{cost:.8f}"))
            await self.finish(call, caller, response, body)
            self.observe_answer(call, response)
            await send_json(send, 200, body, headers)
            failed = False
        finally:
            await self.account(call, caller, failed=failed)

    async def _stream(self, call: Call, plan: Plan, caller: Caller, send: Send, receive: Receive) -> None:
        protocol = call.protocol
        response_id = new_id(protocol.id_prefix)
        formatter = client_formatter(call, response_id)
        accumulator = StreamAccumulator(response_id, call.request.model)
        progress = StreamOutcome()

        async def observe(event: StreamEvent) -> None:
            accumulator.feed(event)
            if event.kind == "error" and call.observation is not None:
                call.observation.summary.error = event.error.kind  # an in-band failure still answers 200
            if event.kind in ("end", "error") and call.target is not None:
                # Before the terminal frame goes out: a client may continue the moment it sees it.
                outcome = "failed" if event.kind == "error" else "completed"
                stats = stream_stats(call, outcome, progress.chunks, progress.bytes)
                response = accumulator.response()
                await self.finish(call, caller, response, formatter.final_response(event), stream=stats)
                self.observe_answer(call, response)

        def error_response(error: GatewayError) -> tuple[int, bytes, list[tuple[str, str]]]:
            return error.status, _json.dumps(protocol.format_error(error)), error_headers(error)

        stats = None
        try:
            outcome = await send_event_stream(
                send,
                receive,
                self._executor.stream(call, plan),
                formatter,
                headers=lambda: served_headers(call),
                on_error_response=error_response,
                heartbeat_interval=self._heartbeat_interval,
                on_event=observe,
                on_heartbeat=None if call.trace is None else lambda: _record_heartbeat(call.trace),
                outcome=progress,
            )
            if outcome.status != "error_response":
                stats = stream_stats(call, outcome.status, outcome.chunks, outcome.bytes)
        finally:
            failed = stats is None or stats.outcome == "failed"
            await self.account(call, caller, failed=failed, stream=stats)


def _record_heartbeat(trace: RequestTrace | None) -> None:
    if trace is not None:
        trace.record("stream_heartbeat", None, direction="stream", component="client")


def answer_body(call: Call, response: UnifiedResponse) -> dict[str, Any]:
    """The client's body for a whole answer: the upstream's own when it speaks the client's protocol (with the
    gateway's rewrites), else the unified answer formatted in the client's protocol."""
    served = call.target.protocol.name if call.target is not None else None
    if response.raw is not None and passes_through(call.protocol.name, served):
        return rewriter(call.protocol, call.request, response.id).body(response.raw)
    return call.protocol.format_response(response, call.request)


def client_formatter(call: Call, response_id: str) -> PassthroughFormatter:
    """The client's stream formatter: upstream payloads pass as they came when the serving provider speaks the
    client's protocol; otherwise (or for events the gateway makes) the protocol's own formatter writes them."""
    protocol = call.protocol
    inner: StreamFormatter = protocol.stream_formatter(call.request, response_id)

    def same_protocol() -> bool:
        return passes_through(protocol.name, call.target.protocol.name if call.target is not None else None)

    return PassthroughFormatter(inner, rewriter(protocol, call.request, response_id), same_protocol)


def honoured(plan: Plan, request: UnifiedRequest) -> Plan:
    """``plan`` without the targets that would lose a field that changes the answer's meaning.

    Raises:
        GatewayError: 400 naming the field, when no target is left.
    """
    if not request.source_only:
        return plan
    kept = tuple(t for t in plan.targets if lost_meaning(request, t.protocol) is None)
    if not kept:
        loss = lost_meaning(request, plan.targets[0].protocol)
        assert loss is not None
        raise refusal(loss, (t.protocol for t in plan.targets))
    return replace(plan, targets=kept)


def stream_stats(call: Call, outcome: str, chunks: int, size: int) -> StreamStats:
    """The measurements of a stream that just ended, from what ``call`` noted on the way."""
    return StreamStats(
        call.started,
        first_byte=call.first_byte,
        first_token=call.first_output,
        chunks=chunks,
        bytes=size,
        finished=time.monotonic(),
        outcome=outcome,
    )


def served_headers(call: Call) -> list[tuple[str, str]]:
    """Headers that say who served the request and how it got there."""
    headers = []
    if call.target is not None and call.credential is not None:
        headers += [("x-rotator-provider", call.target.name), ("x-rotator-credential", call.credential.masked)]
    if call.attempts:
        headers.append(("x-rotator-attempts", ", ".join(a.header_value() for a in call.attempts)))
    warned = warnings_header(applicable(call.request, call.target.protocol if call.target else None))
    if warned is not None:
        headers.append(warned)
    return headers


def error_headers(error: GatewayError) -> list[tuple[str, str]]:
    """``retry-after``, the attempt history, and ``x-should-retry: false`` when the gateway retried the request
    itself or no retry can help (otherwise the client's SDK keeps its own retry policy)."""
    headers = []
    if error.retry_after is not None:
        headers.append(("retry-after", str(max(math.ceil(error.retry_after), 1))))
    attempts = error.details.get("attempts")
    if attempts:
        headers.append(("x-rotator-attempts", attempts))
    if error.details.get("attempt_count", 0) > 1 or error.kind in HARD_STOPS:
        headers.append(("x-should-retry", "false"))
    return headers
