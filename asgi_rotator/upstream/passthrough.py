"""Passthrough upstream: OpenAI-compatible endpoints the gateway does not translate (completions, images,
audio, moderations, rerank), rotated like chat through :meth:`Executor.exchange`.

The client's body goes to the provider with only the model name changed: a JSON body re-encoded with it, an
upload (:class:`SpooledForm`) replayed from its spooled file with the model field spliced in. A JSON answer is
read whole (it is small, and its usage counts); anything else (audio, server-sent events) is handed back open,
for the endpoint to stream to the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ..credentials.pool import Lease
from ..planner import Plan, Target
from ..protocols.base import NativeRequest
from ..protocols.passthrough import check_passthrough_provider, passthrough_usage
from .call import Call
from .embeddings import json_object
from .executor import Executor
from .transport import UpstreamTransport


class Upload(Protocol):
    """A replayable upload body (``http.multipart.SpooledForm``)."""

    content_type: str

    def replayed(self, replace: Mapping[str, str]) -> tuple[int, AsyncIterator[bytes]]:
        """``(length, chunks)`` of the body with the named fields' values replaced."""
        ...


@dataclass(slots=True)
class PassthroughAnswer:
    """An upstream's success: its JSON body read whole, or its open response for the caller to stream and close."""

    status: int
    content_type: str
    json: dict[str, Any] | None = None
    response: httpx.Response | None = None


class PassthroughCalls:
    """Sends passthrough requests to the plan's targets."""

    def __init__(self, executor: Executor, transport: UpstreamTransport) -> None:
        self._executor = executor
        self._transport = transport

    async def send(self, call: Call, plan: Plan, path: str, body: dict[str, Any] | Upload) -> PassthroughAnswer:
        """POST ``body`` to ``path`` under the first target and credential that answers with success."""

        async def attempt(target: Target, lease: Lease, budget: float) -> tuple[PassthroughAnswer, int | None]:
            check_passthrough_provider(target.protocol, target.provider)
            content: AsyncIterable[bytes] | None = None
            if not isinstance(body, dict):
                length, content = body.replayed({"model": target.model})
                headers = {"content-type": body.content_type, "content-length": str(length), "accept": "*/*"}
                native = NativeRequest(path, {}, headers=headers)
                traced: Any = {"multipart_bytes": length, "model": target.model}
            else:
                native = NativeRequest(path, {**body, "model": target.model}, headers={"accept": "*/*"})
                traced = native.body
            http_request = self._transport.build(
                target,
                lease.credential,
                native,
                call.client_headers,
                timeout=budget,
                content=content,
            )
            if call.trace is not None:
                call.trace.record(
                    "provider_request",
                    traced,
                    component="provider",
                    provider=target.provider,
                    model=target.model,
                    credential=lease.credential.masked,
                    url=str(http_request.url),
                )
            response = await self._transport.open_stream(http_request, target.protocol, lease.credential)
            content_type = response.headers.get("content-type", "application/octet-stream")
            if not content_type.startswith("application/json"):
                return PassthroughAnswer(response.status_code, content_type, response=response), None
            try:
                await response.aread()
            finally:
                await response.aclose()
            answer = json_object(response.content, target.protocol.name)
            if call.trace is not None:
                call.trace.record("raw_provider_response", answer, direction="response", component="provider")
            call.usage = passthrough_usage(answer)
            served = call.usage.total_tokens if call.usage is not None else None
            return PassthroughAnswer(response.status_code, content_type, json=answer), served

        return await self._executor.exchange(call, plan, attempt)
