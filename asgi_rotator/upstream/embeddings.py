"""Embeddings upstream: each attempt builds the provider's native call, sends it and reads the vectors back.

Rotation, cooldowns and fallback are the executor's (:meth:`Executor.exchange`); only the request and answer
shapes differ from a chat generation, and those are the pure translations of ``protocols/embeddings.py``.
"""

from __future__ import annotations

from typing import Any

from .. import _json
from ..credentials.pool import Lease
from ..planner import Plan, Target
from ..protocols._common import upstream_invalid
from ..protocols.embeddings import (
    EmbeddingRequest,
    EmbeddingResponse,
    build_provider_request,
    parse_provider_response,
)
from .call import Call
from .executor import Executor
from .transport import UpstreamTransport


class EmbeddingCalls:
    """Runs embeddings requests against the plan's targets."""

    def __init__(self, executor: Executor, transport: UpstreamTransport) -> None:
        self._executor = executor
        self._transport = transport

    async def embed(self, call: Call, plan: Plan, request: EmbeddingRequest) -> EmbeddingResponse:
        """The vectors for ``request``, from the first target and credential that serves them."""

        async def attempt(target: Target, lease: Lease, budget: float) -> tuple[EmbeddingResponse, int | None]:
            native = build_provider_request(request, target.protocol, target.model)
            http_request = self._transport.build(
                target,
                lease.credential,
                native,
                call.client_headers,
                timeout=budget,
            )
            if call.trace is not None:
                call.trace.record(
                    "provider_request",
                    native.body,
                    component="provider",
                    provider=target.provider,
                    model=target.model,
                    credential=lease.credential.masked,
                    url=str(http_request.url),
                )
            content, _ = await self._transport.send(http_request, target.protocol, lease.credential, deadline=budget)
            body = json_object(content, target.protocol.name)
            if call.trace is not None:
                call.trace.record("raw_provider_response", _shortened(body), direction="response", component="provider")
            result = parse_provider_response(body, target.protocol, request)
            call.usage = result.usage
            return result, result.usage.total_tokens if result.usage else None

        return await self._executor.exchange(call, plan, attempt)


def json_object(content: bytes, protocol: str) -> dict[str, Any]:
    """An upstream answer's JSON object body, or a 502-class failure naming the protocol."""
    try:
        body = _json.loads(content)
    except _json.JSONDecodeError:
        raise upstream_invalid(protocol, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise upstream_invalid(protocol, "the body is not a JSON object")
    return body


def _shortened(body: dict[str, Any]) -> dict[str, Any]:
    """The answer for the trace, with each vector cut to its first values: thousands of floats per input say
    nothing a reader of the trace needs."""
    data = body.get("data") if isinstance(body.get("data"), list) else body.get("embeddings")
    if not isinstance(data, list):
        return body
    short = []
    for item in data:
        if isinstance(item, dict):
            item = {
                k: v[:8] if k in ("embedding", "values") and isinstance(v, list | str) else v for k, v in item.items()
            }
        short.append(item)
    return {**body, ("data" if "data" in body else "embeddings"): short}
