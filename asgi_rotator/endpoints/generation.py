"""Generation: one request from parsed client body to formatted answer, JSON or SSE.

The flow is one-way: the planner picks targets, the session tracker names the conversation, the executor
does the upstream work, and the client protocol formats what comes back.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, replace
from typing import Any

from .. import _json
from ..caller import Caller
from ..error_kinds import HARD_STOPS
from ..errors import GatewayError
from ..http.asgi import send_json
from ..http.event_stream import send_event_stream
from ..planner import Plan, Planner
from ..protocols._common import new_id, now
from ..protocols.accumulate import StreamAccumulator
from ..protocols.base import WireProtocol
from ..protocols.fidelity import applicable, lost_meaning, refusal, warnings_header
from ..protocols.registry import ProtocolRegistry
from ..protocols.unified import StreamEvent, UnifiedRequest, UnifiedResponse
from ..responses_api.service import ResponsesService
from ..responses_api.store import StoredResponse
from ..sessions import SessionTracker
from ..stream_stats import StreamStats
from ..tracing.writer import RequestTrace
from ..types import Receive, Send
from ..upstream.call import Call
from ..upstream.executor import Executor
from ..usage.accounting import Accounting
from .base import Request
from .output_protocol import provider_default


class Generation:
    """Runs generate and count-tokens requests for every client protocol.

    Args:
        planner: turns the requested model into targets.
        sessions: names the conversation a request belongs to.
        responses: Responses API lineage and storage.
        executor: does the upstream work.
        accounting: budgets before, usage and cost after.
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
        *,
        heartbeat_interval: float | None,
        protocols: ProtocolRegistry,
    ) -> None:
        self._planner = planner
        self._sessions = sessions
        self._responses = responses
        self._executor = executor
        self._accounting = accounting
        self._heartbeat_interval = heartbeat_interval
        self._protocols = protocols

    async def generate(self, request: Request, send: Send) -> None:
        """``POST`` a generation in any client protocol; answers JSON or an event stream."""
        route, protocol = request.route, request.protocol
        body = await request.json()
        if protocol.stores_responses:
            body = await self._responses.resolve_references(body, request.caller)
        parsed = protocol.parse_request(body, model=route.model, stream=route.stream)
        call, plan = await self.prepare(protocol, parsed, request.caller, request.headers, trace=request.trace)
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
        call, plan = await self.prepare(protocol, parsed, request.caller, request.headers, trace=request.trace)
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
    ) -> tuple[Call, Plan]:
        """Everything before the upstream: the caller's budget, Responses lineage, the plan, the session."""
        await self._accounting.quotas.check(caller.key_id, caller.budget)
        inherited = None
        if protocol.stores_responses:
            await self._responses.check_room(request, caller)
            inherited = await self._responses.expand(request, caller, unstored=unstored)
        plan = honoured(self._planner.plan(request.model, protocol.family), request)
        session = await self._sessions.resolve(request, headers, caller.scope, inherited=inherited)
        if trace is not None:
            trace.session_id = session
            trace.record(
                "parsed_unified_request",
                request,
                warnings=[w.message for w in request.warnings],
                targets=[t.name for t in plan.targets],
            )
        return Call(request, protocol, caller.scope, headers, session, trace=trace), plan

    async def finish(
        self, call: Call, caller: Caller, response: UnifiedResponse, body: dict[str, Any] | None = None
    ) -> StoredResponse | None:
        """Everything the next request may depend on: session evidence and Responses storage (the executor
        keeps provider state through the field cache).

        It runs before the answer's last byte goes out, so a client that continues at once finds it all.
        """
        warnings = applicable(call.request, call.target.protocol if call.target else None)
        if warnings and call.trace is not None:
            call.trace.record("conversion_warnings", [asdict(w) for w in warnings], direction="metadata")
        if response.stop_reason != "error":  # a failed stream never sets session anchors
            await self._sessions.remember(call.session, call.scope, response.text, [c.id for c in response.tool_calls])
        if not call.protocol.stores_responses:
            return None
        if body is None:
            body = call.protocol.format_response(response, call.request)
        record = self._responses.stored(call.request, body, caller, call.session)
        await self._responses.save(record, call.request)
        return record

    async def account(self, call: Call, caller: Caller, failed: bool, stream: StreamStats | None = None) -> None:
        """Usage, cost and metrics of the attempt that served the client (after the answer went out); a stream's
        own measurements go to the trace and the usage counters too."""
        if stream is not None and call.trace is not None:
            call.trace.record("stream_metrics", stream.summary(), direction="metadata", component="client")
        if call.target is None:
            return
        cost, source = await self._accounting.record(
            provider=call.target.provider,
            model=call.target.model,
            credential=call.credential.masked if call.credential else None,
            client_key=caller.key_id,
            scope=caller.scope,
            usage=call.usage,
            outcome="error" if failed else "disconnected" if stream and stream.outcome == "disconnected" else "ok",
            latency=time.monotonic() - call.started,
            ttfb=call.first_output - call.started if call.first_output is not None else None,
            stream=stream,
        )
        if call.trace is not None:
            call.trace.record(
                "usage_accounting_summary",
                call.usage,
                direction="metadata",
                component="provider",
                cost_usd=cost,
                cost_source=source,
            )

    def stream_events(self, call: Call, plan: Plan) -> AsyncIterator[StreamEvent]:
        """The canonical events of a streamed call (the WebSocket transport reads them directly)."""
        return self._executor.stream(call, plan)

    async def _complete(self, call: Call, plan: Plan, caller: Caller, send: Send) -> None:
        response = await self._executor.generate(call, plan)
        response.id = new_id(call.protocol.id_prefix)
        response.created = response.created or now()
        body = call.client_body(call.protocol.format_response(response, call.request))
        headers = served_headers(call)
        if call.target is not None:
            cost, _ = self._accounting.cost(call.target.provider, call.target.model, call.usage)
            if cost is not None:
                headers.append(("x-rotator-cost-usd", f"{cost:.8f}"))
        await self.finish(call, caller, response, body)
        await send_json(send, 200, body, headers)
        await self.account(call, caller, failed=False)

    async def _stream(self, call: Call, plan: Plan, caller: Caller, send: Send, receive: Receive) -> None:
        protocol = call.protocol
        response_id = new_id(protocol.id_prefix)
        formatter = protocol.stream_formatter(call.request, response_id)
        accumulator = StreamAccumulator(response_id, call.request.model)

        async def observe(event: StreamEvent) -> None:
            accumulator.feed(event)
            if event.kind in ("end", "error") and call.target is not None:
                # Before the terminal frame goes out: a client may continue the moment it sees it.
                await self.finish(call, caller, accumulator.response())

        def error_response(error: GatewayError) -> tuple[int, bytes, list[tuple[str, str]]]:
            return error.status, _json.dumps(protocol.format_error(error)), error_headers(error)

        outcome = await send_event_stream(
            send,
            receive,
            self._executor.stream(call, plan),
            formatter,
            headers=lambda: served_headers(call),
            on_error_response=error_response,
            heartbeat_interval=self._heartbeat_interval,
            on_event=observe,
        )
        if outcome.status != "error_response":
            # A client that went away still used what the upstream produced until then.
            stats = stream_stats(call, outcome.status, outcome.chunks, outcome.bytes)
            await self.account(call, caller, failed=outcome.status == "failed", stream=stats)


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
