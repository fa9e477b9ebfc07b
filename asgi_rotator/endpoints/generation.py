"""Generation: one request from parsed client body to formatted answer, JSON or SSE.

The flow is one-way: the planner picks targets, the session tracker names the conversation, the executor
does the upstream work, and the client protocol formats what comes back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _json
from ..errors import GatewayError
from ..http.asgi import send_json
from ..http.auth import Client
from ..http.streaming import send_event_stream
from ..protocols._common import new_id, now
from ..protocols.base import WireProtocol
from ..protocols.unified import StreamEvent, UnifiedRequest, UnifiedResponse
from ..responses_api.store import StoredResponse
from ..routing.planner import Plan
from ..streaming.accumulate import StreamAccumulator
from ..streaming.metrics import StreamMetrics
from ..tracing.writer import RequestTrace
from ..types import Receive, Send
from ..upstream.executor import Call

if TYPE_CHECKING:
    from ..gateway import Gateway


class Generation:
    """Runs generate and count-tokens requests for every client protocol."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def __call__(
        self,
        protocol: WireProtocol,
        request: UnifiedRequest,
        client: Client,
        headers: Mapping[str, str],
        send: Send,
        receive: Receive,
        *,
        count_tokens: bool,
        trace: RequestTrace | None = None,
    ) -> None:
        call, plan = await self.prepare(protocol, request, client, headers, trace=trace)
        if count_tokens:
            count = await self._gateway.executor.count_tokens(call, plan)
            await send_json(send, 200, protocol.format_count_tokens(count))
        elif request.stream:
            await self._stream(call, plan, protocol, client, send, receive)
        else:
            await self._complete(call, plan, protocol, client, send)

    async def prepare(
        self,
        protocol: WireProtocol,
        request: UnifiedRequest,
        client: Client,
        headers: Mapping[str, str],
        *,
        unstored: StoredResponse | None = None,
        trace: RequestTrace | None = None,
    ) -> tuple[Call, Plan]:
        """Everything before the upstream: the client's budget, Responses lineage, the plan, the session."""
        gateway = self._gateway
        await gateway.accounting.quotas.check(client.key_id, client.budget)
        inherited = None
        if protocol.name == "openai_responses":
            inherited = await gateway.responses.expand(request, client, unstored=unstored)
        plan = gateway.planner.plan(request.model, protocol.family)
        session = await gateway.sessions.resolve(request, headers, client.scope, inherited=inherited)
        if trace is not None:
            trace.session_id = session
            trace.record(
                "parsed_unified_request",
                request,
                warnings=[w.message for w in request.warnings],
                targets=[t.name for t in plan.targets],
            )
        return Call(request, client.scope, headers, session, trace=trace), plan

    async def finish(
        self,
        protocol: WireProtocol,
        call: Call,
        client: Client,
        response: UnifiedResponse,
        body: dict[str, Any] | None = None,
    ) -> StoredResponse | None:
        """Everything the next request may depend on: session evidence and Responses storage (the executor
        keeps provider state through the field cache).

        It runs before the answer's last byte goes out, so a client that continues at once finds it all.
        """
        gateway = self._gateway
        if response.stop_reason != "error":  # a failed stream never sets session anchors
            await gateway.sessions.remember(
                call.session, call.scope, response.text, [c.id for c in response.tool_calls]
            )
        if protocol.name != "openai_responses":
            return None
        if body is None:
            body = protocol.format_response(response, call.request)
        record = gateway.responses.stored(call.request, body, client, call.session)
        await gateway.responses.save(record, call.request)
        return record

    async def account(self, call: Call, client: Client, failed: bool, stream: StreamMetrics | None = None) -> None:
        """Usage, cost and metrics of the attempt that served the client (after the answer went out); a stream's
        own measurements go to the trace and the usage counters too."""
        if stream is not None and call.trace is not None:
            call.trace.record("stream_metrics", stream.summary(), direction="metadata", component="client")
        if call.target is None:
            return
        cost, source = await self._gateway.accounting.record(
            provider=call.target.provider,
            model=call.target.model,
            credential=call.credential.masked if call.credential else None,
            client_key=client.key_id,
            scope=client.scope,
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

    async def _complete(self, call: Call, plan: Plan, protocol: WireProtocol, client: Client, send: Send) -> None:
        response = await self._gateway.executor.generate(call, plan)
        response.id = new_id(protocol.id_prefix)
        response.created = response.created or now()
        body = protocol.format_response(response, call.request)
        headers = served_headers(call)
        if call.target is not None:
            cost, _ = self._gateway.accounting.cost(call.target.provider, call.target.model, call.usage)
            if cost is not None:
                headers.append(("x-rotator-cost-usd", f"{cost:.8f}"))
        await self.finish(protocol, call, client, response, body)
        await send_json(send, 200, body, headers)
        await self.account(call, client, failed=False)

    async def _stream(
        self, call: Call, plan: Plan, protocol: WireProtocol, client: Client, send: Send, receive: Receive
    ) -> None:
        response_id = new_id(protocol.id_prefix)
        formatter = protocol.stream_formatter(call.request, response_id)
        accumulator = StreamAccumulator(response_id, call.request.model)

        async def observe(event: StreamEvent) -> None:
            accumulator.feed(event)
            if event.kind in ("end", "error") and call.target is not None:
                # Before the terminal frame goes out: a client may continue the moment it sees it.
                await self.finish(protocol, call, client, accumulator.response())

        def error_response(error: GatewayError) -> tuple[int, bytes, list[tuple[str, str]]]:
            return error.status, _json.dumps(protocol.format_error(error)), error_headers(error)

        outcome = await send_event_stream(
            send,
            receive,
            self._gateway.executor.stream(call, plan),
            formatter,
            headers=lambda: served_headers(call),
            on_error_response=error_response,
            heartbeat_interval=self._gateway.config.streaming.heartbeat_interval,
            on_event=observe,
        )
        if outcome.status != "error_response":
            # A client that went away still used what the upstream produced until then.
            metrics = stream_metrics(call, outcome.status, outcome.chunks, outcome.bytes)
            await self.account(call, client, failed=outcome.status == "failed", stream=metrics)


def stream_metrics(call: Call, outcome: str, chunks: int, size: int) -> StreamMetrics:
    """The measurements of a stream that just ended, from what ``call`` noted on the way."""
    return StreamMetrics(
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
    return headers


def error_headers(error: GatewayError) -> list[tuple[str, str]]:
    """``retry-after``, and the attempt history with ``x-should-retry: false`` when the gateway already retried."""
    headers = []
    if error.retry_after is not None:
        headers.append(("retry-after", str(max(int(-(-error.retry_after // 1)), 1))))
    attempts = error.details.get("attempts")
    if attempts:
        headers.append(("x-rotator-attempts", attempts))
        # The gateway already rotated and retried: a client-side retry storm would not help.
        headers.append(("x-should-retry", "false"))
    return headers
