"""``FakeUpstream``: a scripted stand-in for the four provider APIs, for your tests and our benchmarks.

It is an ASGI app. Point a provider's ``base_url`` at it (``http://host/v1`` for the OpenAI protocols,
``http://host`` for Anthropic and Gemini), serve it with uvicorn or call it through
``httpx.ASGITransport``, and script what it answers::

    upstream = FakeUpstream(keys=["sk-a", "sk-b"])
    upstream.script(Reply(status=429, retry_after=30), Reply(text="hi"))
    upstream.on_key("sk-b", Reply(status=401))

It checks every request the way the real API would parse it (a malformed one gets a 400 in that
protocol's shape) and records it in :attr:`FakeUpstream.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from . import _json
from .errors import GatewayError
from .http.asgi import read_body, request_headers, send_json
from .http.auth import presented_key
from .http.routes import match
from .protocols import get_protocol
from .protocols._common import new_id, now
from .protocols.base import WireProtocol
from .protocols.embeddings import (
    EmbeddingResponse,
    Vector,
    format_gemini_response,
    format_openai_response,
    parse_gemini_request,
    parse_openai_request,
)
from .protocols.unified import (
    Part,
    Reasoning,
    StopReason,
    StreamEvent,
    Text,
    ToolCall,
    UnifiedRequest,
    UnifiedResponse,
    Usage,
)
from .sse import encode_frame
from .types import Receive, Scope, Send

__all__ = ["FakeUpstream", "Received", "Reply"]


@dataclass
class Reply:
    """One scripted answer.

    Args:
        text: the assistant's text.
        tool_calls: ``(name, arguments)`` pairs the model "calls".
        reasoning: reasoning text; ``signature`` is attached to it (and to the first tool call, Gemini-style)
            when the protocol carries signatures.
        usage: canonical token counts; defaults to a small fixed usage.
        status: an HTTP error status to answer with instead (429, 401, 500 ...), in the protocol's error shape.
        retry_after: sent as ``retry-after`` with an error status.
        delay: seconds to wait before answering at all (for first-byte timeouts).
        chunk_delay: seconds between stream chunks.
        stall_after: in a stream, stop sending (but keep the connection) after this many frames.
        drop_after: in a stream, end the connection without a terminal after this many frames.
        error_after: in a stream, send an in-band error after this many frames.
        rename: JSON keys to rename, at any depth, in every body and stream payload sent, to imitate a
            provider that deviates from its protocol (``{"reasoning_content": "thinking"}``).
    """

    text: str = "Hello from the fake upstream."
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reasoning: str | None = None
    signature: str = "c2lnLWZha2UtMDAwMQ=="  # base64, as real signatures are (google-genai decodes them)
    usage: Usage | None = None
    stop_reason: StopReason | None = None
    status: int = 200
    error_message: str = "scripted failure"
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    stall_after: int | None = None
    drop_after: int | None = None
    error_after: int | None = None
    rename: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    """A request the fake upstream got."""

    protocol: str
    path: str
    model: str | None
    key: str | None
    headers: dict[str, str]
    body: dict[str, Any]
    request: UnifiedRequest | None = None
    #: The path as it came on the wire, percent-encoding intact (``path`` is decoded).
    raw_path: bytes = b""


class FakeUpstream:
    """A scripted upstream speaking the four provider protocols.

    Args:
        keys: the API keys it accepts; None accepts any key (but still records it).
        default: the answer when nothing is scripted.
        models: what its model-list endpoints report, in the shape of the asking protocol (``GET /v1/models``,
            Anthropic's when ``anthropic-version`` is sent; ``GET /v1beta/models``). Listings are not recorded.
    """

    def __init__(
        self, *, keys: Iterable[str] | None = None, default: Reply | None = None, models: Iterable[str] = ()
    ) -> None:
        self.keys = set(keys) if keys is not None else None
        self.models = list(models)
        self.default = default or Reply()
        self.requests: list[Received] = []
        self.open_streams = 0
        self.closed_streams = 0
        #: Requests being answered right now, and the most there ever were at once.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._script: deque[Reply] = deque()
        self._by_key: dict[str, Reply] = {}
        self._by_model: dict[str, Reply] = {}

    def script(self, *replies: Reply) -> None:
        """Queue answers, used in order by the next requests (any key)."""
        self._script.extend(replies)

    def on_key(self, key: str, reply: Reply | None) -> None:
        """Answer every request made with ``key`` with ``reply`` (None clears it)."""
        if reply is None:
            self._by_key.pop(key, None)
        else:
            self._by_key[key] = reply

    def on_model(self, model: str, reply: Reply | None) -> None:
        """Answer every request for ``model`` with ``reply`` (None clears it); key behaviours come first."""
        if reply is None:
            self._by_model.pop(model, None)
        else:
            self._by_model[model] = reply

    def reset(self) -> None:
        """Forget scripts, key behaviours and recorded requests."""
        self._script.clear()
        self._by_key.clear()
        self._by_model.clear()
        self.requests.clear()
        self.peak_in_flight = self.in_flight

    def keys_used(self) -> list[str | None]:
        """The key of every recorded request, in order."""
        return [r.key for r in self.requests]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self._answer(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            route = match(scope["method"], scope["path"])
        except GatewayError as error:
            await send_json(send, error.status, get_protocol("openai_chat").format_error(error))
            return
        protocol = get_protocol(route.protocol)
        headers = request_headers(scope)
        key = presented_key(headers, scope.get("query_string", b""))
        if route.endpoint == "models":
            await send_json(send, 200, self._model_list(route.protocol == "gemini", "anthropic-version" in headers))
            return
        body = _json.loads(await read_body(receive, 64 * 1024 * 1024) or b"{}")
        received = Received(protocol.name, scope["path"], route.model or body.get("model"), key, headers, body)
        received.raw_path = scope.get("raw_path") or scope["path"].encode()
        self.requests.append(received)
        if self.keys is not None and key not in self.keys:
            await self._error(send, protocol, Reply(status=401, error_message="invalid api key"))
            return
        embeddings = route.endpoint in _EMBEDDING_ENDPOINTS
        try:
            if not embeddings:
                received.request = protocol.parse_request(
                    body, model=route.model, operation=route.endpoint, stream=route.stream
                )
        except GatewayError as error:
            await send_json(send, 400, protocol.format_error(error))
            return
        reply = (
            self._by_key.get(key or "")
            or self._by_model.get(received.model or "")
            or (self._script.popleft() if self._script else self.default)
        )

        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            await self._error(send, protocol, reply)
        elif embeddings:
            await self._embeddings(send, route.endpoint, route.model, body)
        elif received.request is None:
            return
        elif route.endpoint == "count_tokens":
            await send_json(send, 200, protocol.format_count_tokens(len(json.dumps(body)) // 4))
        elif received.request.stream:
            await self._stream(send, receive, protocol, received.request, reply)
        else:
            response = _response(protocol, received.request, reply)
            body = _renamed(protocol.format_response(response, received.request), reply.rename)
            await send_json(send, 200, body, reply.headers.items())

    def _model_list(self, gemini: bool, anthropic: bool) -> dict[str, Any]:
        if gemini:
            return {
                "models": [
                    {"name": f"models/{m}", "supportedGenerationMethods": ["generateContent"]} for m in self.models
                ]
            }
        if anthropic:
            return {"data": [{"type": "model", "id": m} for m in self.models], "has_more": False}
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models],
        }

    async def _embeddings(self, send: Send, endpoint: str, model: str | None, body: dict[str, Any]) -> None:
        """Embeddings answers: four dimensions per input, derived from its text, in the OpenAI or Gemini shape."""
        try:
            if endpoint == "embeddings":
                request = parse_openai_request(body)
            else:
                request = parse_gemini_request(body, model or "", batch=endpoint == "batch_embed_contents")
        except GatewayError as error:
            await send_json(send, 400, get_protocol("openai_chat").format_error(error))
            return
        vectors: list[Vector] = [_vector(str(text)) for text in request.inputs]
        tokens = sum(len(str(text).split()) for text in request.inputs)
        answer = EmbeddingResponse(vectors, Usage(input_tokens=tokens))
        if endpoint == "embeddings":
            await send_json(send, 200, format_openai_response(answer, request))
        else:
            await send_json(send, 200, format_gemini_response(answer, batch=endpoint == "batch_embed_contents"))

    async def _error(self, send: Send, protocol: WireProtocol, reply: Reply) -> None:
        kinds = {401: "authentication", 403: "permission", 404: "not_found", 429: "rate_limit", 400: "invalid_request"}
        error = GatewayError(kinds.get(reply.status, "server_error"), reply.error_message, status=reply.status)  # type: ignore[arg-type]
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["retry-after"] = f"{reply.retry_after:g}"
        await send_json(send, reply.status, protocol.format_error(error), headers.items())

    async def _stream(
        self, send: Send, receive: Receive, protocol: WireProtocol, request: UnifiedRequest, reply: Reply
    ) -> None:
        formatter = protocol.stream_formatter(request, new_id(protocol.id_prefix))
        line_end = protocol.sse_line_end
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        self.open_streams += 1
        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.ensure_future(watch())
        try:
            for sent, event in enumerate(_events(protocol, request, reply)):
                if disconnected.is_set() or reply.drop_after is not None and sent >= reply.drop_after:
                    break
                if reply.stall_after is not None and sent >= reply.stall_after:
                    await disconnected.wait()  # hold the connection open, silent, until the client leaves
                    return
                if reply.error_after is not None and sent >= reply.error_after:
                    event = StreamEvent("error", error=GatewayError("server_error", reply.error_message))
                frames = formatter.feed(event)
                if reply.rename:
                    frames = [replace(frame, data=_renamed(frame.data, reply.rename)) for frame in frames]
                data = b"".join(encode_frame(frame, line_end=line_end) for frame in frames)
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                if event.kind == "error":
                    break
                if reply.chunk_delay:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(disconnected.wait(), reply.chunk_delay)
            if not disconnected.is_set():
                await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            self.open_streams -= 1
            self.closed_streams += 1


_EMBEDDING_ENDPOINTS = ("embeddings", "embed_content", "batch_embed_contents")


def _vector(text: str) -> list[float]:
    """A deterministic four-dimensional vector for ``text`` (exact in float32, so base64 round trips)."""
    return [float(len(text)), float(sum(map(ord, text)) % 1000), 0.5, -0.25]


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if not names:
        return value
    if isinstance(value, dict):
        return {names.get(key, key): _renamed(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, names) for item in value]
    return value


def _usage(reply: Reply) -> Usage:
    return reply.usage or Usage(input_tokens=12, output_tokens=8)


def _response(protocol: WireProtocol, request: UnifiedRequest, reply: Reply) -> UnifiedResponse:
    family = protocol.carries_state
    parts: list[Part] = []
    if reply.reasoning is not None and family == "openai":
        # OpenAI's reasoning state is an encrypted blob on the reasoning item, not a signature.
        parts.append(Reasoning(reply.reasoning, redacted=reply.signature, signature_family=family))
    elif reply.reasoning is not None:
        parts.append(Reasoning(reply.reasoning, signature=reply.signature if family else None, signature_family=family))
    if reply.text:
        parts.append(Text(reply.text))
    for i, (name, arguments) in enumerate(reply.tool_calls):
        signature = reply.signature if family == "gemini" and i == 0 else None
        parts.append(
            ToolCall(
                new_id("call_"),
                name,
                _json.dumps_str(arguments),
                signature=signature,
                signature_family=family if signature else None,
            )
        )
    stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "stop")
    return UnifiedResponse(new_id(protocol.id_prefix), request.model, parts, stop, usage=_usage(reply), created=now())


def _events(protocol: WireProtocol, request: UnifiedRequest, reply: Reply) -> list[StreamEvent]:
    """The answer as a stream: text in a few deltas, tool arguments split in fragments."""
    response = _response(protocol, request, reply)
    events = [StreamEvent("start", id=response.id, name=request.model)]
    tool_index = 0
    for part in response.parts:
        if isinstance(part, Reasoning):
            events += [StreamEvent("reasoning", text=piece) for piece in _pieces(part.text)]
            if part.signature:
                events.append(
                    StreamEvent("reasoning_signature", signature=part.signature, signature_family=part.signature_family)
                )
            if part.redacted:
                events.append(
                    StreamEvent("reasoning_redacted", signature=part.redacted, signature_family=part.signature_family)
                )
        elif isinstance(part, Text):
            events += [StreamEvent("text", text=piece) for piece in _pieces(part.text)]
        elif isinstance(part, ToolCall):
            events.append(
                StreamEvent(
                    "tool_call_start",
                    index=tool_index,
                    id=part.id,
                    name=part.name,
                    signature=part.signature,
                    signature_family=part.signature_family,
                )
            )
            events += [StreamEvent("tool_call_delta", index=tool_index, text=p) for p in _pieces(part.arguments, 3)]
            tool_index += 1
    events.append(StreamEvent("usage", usage=response.usage))
    events.append(StreamEvent("end", stop_reason=response.stop_reason, usage=response.usage))
    return events


def _pieces(text: str, count: int = 3) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
