"""LiteLLM as an upstream: an httpx transport that answers the gateway's OpenAI-shaped requests by calling
``litellm.acompletion`` and ``litellm.aembedding`` in process.

Behind this seam a LiteLLM provider is a target like any other: the executor builds the same OpenAI Chat (or
embeddings) request, rotates credentials, classifies failures and parses answers and streams exactly as for an
HTTP upstream. Here the request becomes a LiteLLM call with the credential as ``api_key`` and the provider's
``base_url`` as ``api_base`` (both ride in the request's extensions, never in a header), and LiteLLM's answer
becomes an HTTP answer: its JSON, or its stream as OpenAI server-sent events, with LiteLLM's cost as the
answer's ``usage.cost``. LiteLLM's exceptions become error answers with their HTTP status, so cooldowns and
fallback follow the same classification as everywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import httpx

from .. import _json

logger = logging.getLogger("asgi_rotator")

#: The request extension that carries a LiteLLM call's ``api_key`` and ``api_base``.
LITELLM_EXTENSION = "asgi_rotator.litellm"
_JSON = {"content-type": "application/json"}


class LiteLLMTransport(httpx.AsyncBaseTransport):
    """Serves ``/chat/completions`` and ``/embeddings`` through LiteLLM.

    Args:
        litellm: the imported litellm module (imported once when the app was built).
    """

    def __init__(self, litellm: ModuleType) -> None:
        self._litellm = litellm

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target: dict[str, Any] = request.extensions.get(LITELLM_EXTENSION, {})
        body = _json.loads(await request.aread())
        # The gateway rotates and retries itself; LiteLLM's own retries would hide a failing key from it.
        call = {**body, "api_key": target.get("api_key"), "api_base": target.get("api_base") or None, "max_retries": 0}
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is not None:
            call["timeout"] = timeout
        path = request.url.path
        try:
            if path.endswith("/chat/completions"):
                if body.get("stream"):
                    return await self._stream(call)
                answer = await self._litellm.acompletion(**call)
                return _json_answer(answer, self._cost(answer))
            if path.endswith("/embeddings"):
                # LiteLLM's answer types hold float vectors; the gateway encodes for the client afterwards.
                answer = await self._litellm.aembedding(**{**call, "encoding_format": "float"})
                return _json_answer(answer, self._cost(answer))
        except Exception as exc:
            return _error_answer(exc)
        return httpx.Response(
            404, headers=_JSON, content=_error_body(f"LiteLLM providers serve chat and embeddings; not {path}.")
        )

    async def aclose(self) -> None:
        """Close the HTTP clients LiteLLM cached for its providers, and forget them (they belong to this
        event loop; a later app on another loop gets new ones)."""
        await self._litellm.close_litellm_async_clients()
        self._litellm.in_memory_llm_clients_cache.flush_cache()

    async def _stream(self, call: dict[str, Any]) -> httpx.Response:
        call["stream_options"] = {**(call.get("stream_options") or {}), "include_usage": True}
        chunks = await self._litellm.acompletion(**call)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_EventStream(self, chunks))

    def _cost(self, answer: Any) -> float | None:
        """LiteLLM's cost of ``answer``, None when it cannot price the model."""
        hidden = getattr(answer, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if cost is None:
            try:
                cost = self._litellm.completion_cost(completion_response=answer)
            except Exception:  # an unpriced model is unknown cost, never a failed request
                return None
        return float(cost) if isinstance(cost, int | float) else None

    def stream_cost(self, model: str, usage: dict[str, Any]) -> float | None:
        """LiteLLM's cost of a stream's final usage."""
        try:
            prompt, completion = self._litellm.cost_per_token(
                model=model,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        except Exception:  # an unpriced model is unknown cost, never a failed request
            return None
        return float(prompt) + float(completion)


class _EventStream(httpx.AsyncByteStream):
    """A LiteLLM stream as OpenAI Chat server-sent events; a failure mid-stream is an in-band error event."""

    def __init__(self, transport: LiteLLMTransport, chunks: Any) -> None:
        self._transport = transport
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                payload = chunk.model_dump(exclude_none=True)
                usage = payload.get("usage")
                if isinstance(usage, dict) and "cost" not in usage:
                    cost = self._transport.stream_cost(str(payload.get("model") or ""), usage)
                    if cost is not None:
                        usage["cost"] = cost
                yield b"data: " + _json.dumps(payload) + b"\n\n"
        except Exception as exc:
            logger.warning("asgi_rotator: LiteLLM stream failed: %s", type(exc).__name__)
            yield b"data: " + _error_body(str(exc), type(exc).__name__) + b"\n\n"
            return
        yield b"data: [DONE]\n\n"

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()


def _json_answer(answer: Any, cost: float | None) -> httpx.Response:
    payload = answer.model_dump(exclude_none=True) if hasattr(answer, "model_dump") else dict(answer)
    usage = payload.get("usage")
    if cost is not None and isinstance(usage, dict):
        usage["cost"] = cost
    return _answer(200, _JSON, _json.dumps(payload))


def _error_answer(exc: Exception) -> httpx.Response:
    """LiteLLM's exception as the HTTP answer the provider gave (its status and message); a timeout or an
    unreachable provider as the transport error the gateway classifies as such."""
    name = type(exc).__name__
    if name == "Timeout":
        raise httpx.ReadTimeout(str(exc)) from exc
    if name == "APIConnectionError":
        raise httpx.ConnectError(str(exc)) from exc
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or status < 400:
        status = 500
    headers = dict(_JSON)
    response = getattr(exc, "response", None)
    retry_after = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    if retry_after:
        headers["retry-after"] = str(retry_after)
    return _answer(status, headers, _error_body(str(exc), name))


def _answer(status: int, headers: dict[str, str], body: bytes) -> httpx.Response:
    """An answer the way a network transport gives one: its body still to be read (or streamed)."""
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _error_body(message: str, kind: str = "invalid_request_error") -> bytes:
    return _json.dumps({"error": {"message": message, "type": kind}})
