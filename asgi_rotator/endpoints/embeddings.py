"""Embeddings: ``POST /v1/embeddings`` (OpenAI shape) and Gemini's ``:embedContent`` / ``:batchEmbedContents``.

Whichever shape the client speaks, any embeddings-capable provider may serve it: the request becomes one
canonical :class:`EmbeddingRequest`, the upstream call goes through the executor's rotation, and the answer
goes back in the client's shape (OpenAI: in the ``encoding_format`` it asked for).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..caller import OWN_KEY_HEADER, Caller
from ..http.asgi import send_json
from ..planner import Plan, Planner
from ..protocols.base import WireProtocol
from ..protocols.embeddings import (
    EmbeddingRequest,
    EmbeddingResponse,
    format_gemini_response,
    format_openai_response,
    parse_gemini_request,
    parse_openai_request,
)
from ..protocols.unified import UnifiedRequest
from ..tracing.writer import RequestTrace
from ..types import Send
from ..upstream.call import Call
from ..upstream.embedding_batcher import EmbeddingBatcher
from ..upstream.embeddings import EmbeddingCalls
from ..usage.accounting import Accounting
from .base import Request
from .generation import served_headers

#: Records a served call's usage and cost (``Generation.account``).
AccountCall = Callable[[Call, Caller, bool], Awaitable[None]]


class Admission:
    """What every non-chat request does before the upstream: the caller's budget, the plan, the trace."""

    def __init__(self, planner: Planner, accounting: Accounting) -> None:
        self._planner = planner
        self._accounting = accounting

    async def admit(
        self,
        model: str,
        protocol: WireProtocol,
        caller: Caller,
        headers: Mapping[str, str],
        trace: RequestTrace | None,
        *,
        operation: str,
    ) -> tuple[Call, Plan]:
        """The call and plan for a request of ``operation`` to ``model`` (404 for an unknown model); the caller's
        budget is held by the first admission and settled when the call is accounted."""
        plan = self._planner.plan(model, protocol.family)
        unified = UnifiedRequest(model, operation=operation, source_protocol=protocol.name)
        if trace is not None:
            trace.record(
                "parsed_unified_request",
                {"model": model, "operation": operation},
                targets=[t.name for t in plan.targets],
            )
        call = Call(unified, protocol, caller.scope, headers, trace=trace, own_key=headers.get(OWN_KEY_HEADER))
        call.budget = self._accounting.quotas.hold(caller.key_id, caller.budget)
        return call, plan


class Embeddings:
    """Serves embeddings in the OpenAI and Gemini shapes.

    Args:
        admission: budget check and plan.
        calls: the upstream embeddings calls (through the batcher when batching is on).
        account: records usage and cost once the answer went out.
    """

    def __init__(self, admission: Admission, calls: EmbeddingCalls | EmbeddingBatcher, account: AccountCall) -> None:
        self._admission = admission
        self._calls = calls
        self._account = account

    async def openai(self, request: Request, send: Send) -> None:
        """``POST /v1/embeddings``."""
        parsed = parse_openai_request(await request.json())
        await self._serve(request, send, parsed, lambda answer: format_openai_response(answer, parsed))

    async def gemini_single(self, request: Request, send: Send) -> None:
        """``POST /v1beta/models/{model}:embedContent``."""
        parsed = parse_gemini_request(await request.json(), request.route.model or "", batch=False)
        await self._serve(request, send, parsed, lambda answer: format_gemini_response(answer, batch=False))

    async def gemini_batch(self, request: Request, send: Send) -> None:
        """``POST /v1beta/models/{model}:batchEmbedContents``."""
        parsed = parse_gemini_request(await request.json(), request.route.model or "", batch=True)
        await self._serve(request, send, parsed, lambda answer: format_gemini_response(answer, batch=True))

    async def _serve(
        self,
        request: Request,
        send: Send,
        parsed: EmbeddingRequest,
        render: Callable[[EmbeddingResponse], dict[str, Any]],
    ) -> None:
        call, plan = await self._admission.admit(
            parsed.model, request.protocol, request.caller, request.headers, request.trace, operation="embeddings"
        )
        answer = await self._calls.embed(call, plan, parsed)
        await send_json(send, 200, render(answer), served_headers(call))
        await self._account(call, request.caller, False)
