"""Batching of concurrent small embeddings requests (``embeddings.batching``).

Requests that arrive together for the same model, with the same options and the same caller scope, are
merged into one upstream call of up to ``max_items`` inputs, sent when it is full or when its first request
has waited ``max_wait`` seconds. Each request gets its own vectors back, its share of the usage (by the length
of its inputs) and the serving attempt's record; a failure of the batch is each request's failure. Requests
with the caller's own provider key, and requests that fill a batch alone, are never merged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from .. import _json
from ..planner import Plan
from ..protocols.embeddings import EmbeddingRequest, EmbeddingResponse
from ..protocols.unified import UnifiedRequest, Usage
from .call import Call
from .embeddings import EmbeddingCalls

_OWN_FIELDS = ("input", "model", "encoding_format")


@dataclass(slots=True)
class _Member:
    call: Call
    request: EmbeddingRequest
    answer: asyncio.Future[EmbeddingResponse]


@dataclass(slots=True)
class _Batch:
    plan: Plan
    members: list[_Member] = field(default_factory=list)
    items: int = 0
    timer: asyncio.TimerHandle | None = None


class EmbeddingBatcher:
    """Merges concurrent small embeddings requests into shared upstream calls.

    Args:
        calls: the upstream embeddings calls a batch goes through.
        max_items: inputs that fill a batch.
        max_wait: seconds a batch waits for more requests after its first.
    """

    def __init__(self, calls: EmbeddingCalls, *, max_items: int, max_wait: float) -> None:
        self._calls = calls
        self._max_items = max_items
        self._max_wait = max_wait
        self._open: dict[str, _Batch] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def embed(self, call: Call, plan: Plan, request: EmbeddingRequest) -> EmbeddingResponse:
        """The vectors for ``request``, from a batch shared with concurrent requests when it is small."""
        if call.own_key is not None or len(request.inputs) >= self._max_items:
            return await self._calls.embed(call, plan, request)
        key = _batch_key(call, request)
        batch = self._open.get(key)
        if batch is not None and batch.items + len(request.inputs) > self._max_items:
            self._flush(key, batch)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch(plan)
            batch.timer = asyncio.get_running_loop().call_later(self._max_wait, self._flush, key, batch)
        member = _Member(call, request, asyncio.get_running_loop().create_future())
        batch.members.append(member)
        batch.items += len(request.inputs)
        if batch.items >= self._max_items:
            self._flush(key, batch)
        return await member.answer

    def _flush(self, key: str, batch: _Batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        task = asyncio.ensure_future(self._send(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _send(self, batch: _Batch) -> None:
        first = batch.members[0]
        merged = replace(first.request, inputs=[text for m in batch.members for text in m.request.inputs])
        lead = Call(
            UnifiedRequest(merged.model, operation="embeddings"),
            first.call.protocol,
            first.call.scope,
            first.call.client_headers,
        )
        try:
            answer = await self._calls.embed(lead, batch.plan, merged)
        except Exception as exc:
            for member in batch.members:
                if not member.answer.done():
                    member.answer.set_exception(exc)
            return
        shares = _shares(answer.usage, [m.request for m in batch.members])
        start = 0
        for member, usage in zip(batch.members, shares, strict=True):
            count = len(member.request.inputs)
            call = member.call
            call.target, call.credential, call.attempts, call.usage = lead.target, lead.credential, lead.attempts, usage
            if call.trace is not None:
                call.trace.record(
                    "embeddings_batched",
                    {"requests": len(batch.members), "inputs": len(merged.inputs), "offset": start},
                    direction="metadata",
                    component="provider",
                )
            if not member.answer.done():
                member.answer.set_result(EmbeddingResponse(answer.vectors[start : start + count], usage))
            start += count


def _batch_key(call: Call, request: EmbeddingRequest) -> str:
    """Requests may share a batch only when everything but their inputs is the same."""
    extras = {k: v for k, v in request.raw.items() if k not in _OWN_FIELDS}
    options = [request.model, call.scope, request.dimensions, request.task_type, request.title, extras]
    return _json.dumps_str(options)


def _shares(usage: Usage | None, requests: list[EmbeddingRequest]) -> list[Usage]:
    """The batch's input tokens split by each request's share of the input length (the rest to the last)."""
    total = usage.input_tokens if usage is not None else 0
    sizes = [sum(len(text) for text in r.inputs) or 1 for r in requests]
    whole = sum(sizes)
    tokens = [total * size // whole for size in sizes]
    tokens[-1] += total - sum(tokens)
    return [Usage(input_tokens=t) for t in tokens]
