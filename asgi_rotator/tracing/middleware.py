"""``TracingMiddleware``: request ids and client-side trace passes around any ASGI app or single route.

It mints a request id for every request (a client's ``x-request-id`` is kept in the trace as metadata, never
used to name one: a client could otherwise write into another request's trace), exposes it to the app as
``scope["asgi_rotator.request_id"]`` and sets it on the response. With tracing on it records what the client
sent (``raw_client_request``) and what it got back (``final_client_response``, or one
``formatted_client_stream_event`` per chunk of an event stream), and hands the request's trace to the app as
``scope["asgi_rotator.trace"]`` so the passes in between land in the same file.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from .. import _json
from ..config.models import TraceConfig
from ..ids import unique_hex
from ..types import ASGIApp, Message, Receive, Scope, Send
from .writer import RequestTrace, TraceWriter

SCOPE_REQUEST_ID = "asgi_rotator.request_id"
SCOPE_TRACE = "asgi_rotator.trace"


def current_trace(scope: Scope) -> RequestTrace | None:
    """The trace a :class:`TracingMiddleware` started for this request, or None when tracing is off."""
    trace: RequestTrace | None = scope.get(SCOPE_TRACE)
    return trace


class TracingMiddleware:
    """Request ids and client-side trace passes for ``app``. Non-HTTP scopes pass straight through.

    When an outer ``TracingMiddleware`` already handled the request, this one passes it through.

    Args:
        app: the ASGI app or single route to wrap.
        writer: where traces go; share the gateway's so its passes and these land in one file.
        config: used to build a writer (with no secret values to redact) when none is given; with neither,
            only request ids are handled.
        header: the request-id header: a client's is kept as metadata, the minted id is set on the response.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        writer: TraceWriter | None = None,
        config: TraceConfig | None = None,
        header: str = "x-request-id",
    ) -> None:
        self.app = app
        self.writer = writer if writer is not None else TraceWriter(config or TraceConfig())
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or SCOPE_REQUEST_ID in scope:
            await self.app(scope, receive, send)
            return
        request_id = unique_hex(12)
        scope[SCOPE_REQUEST_ID] = request_id
        header = self.header
        id_header = (header, request_id.encode("latin-1"))

        trace = self.writer.begin(request_id)
        if trace is None:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = _with_header(message, id_header)
                await send(message)

            await self.app(scope, receive, send_with_id)
            return

        scope[SCOPE_TRACE] = trace
        client_id = self._client_request_id(scope)
        if client_id is not None:
            trace.record("client_request_id", {"x-request-id": client_id}, direction="metadata")
        exchange = _TracedExchange(trace, scope, receive, send, id_header, self.writer.config.max_bytes_per_request)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BaseException as exc:
            exchange.record_request()
            trace.error("final_client_response", exc, response_started=exchange.status is not None)
            raise
        finally:
            exchange.record_request()
            exchange.record_unfinished_response()
            await trace.close()

    def _client_request_id(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name.lower() == self.header:
                client_id: str = value.decode("latin-1")[:128]
                return client_id
        return None


class _TracedExchange:
    """Per-request state of the middleware: what has been seen of the request and the response so far."""

    def __init__(
        self,
        trace: RequestTrace,
        scope: Scope,
        receive: Receive,
        send: Send,
        id_header: tuple[bytes, bytes],
        limit: int,
    ) -> None:
        self.trace = trace
        self.scope = scope
        self._receive = receive
        self._send = send
        self.id_header = id_header
        self.limit = limit
        self.request_body = bytearray()
        self.request_truncated = False
        self.request_recorded = False
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self.event_stream = False
        self.response_body = bytearray()
        self.response_truncated = False
        self.stream_chunks = 0
        self.stream_bytes = 0
        self.response_recorded = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not self.request_recorded:
            self.request_truncated |= _append_bounded(self.request_body, message.get("body", b""), self.limit)
            if not message.get("more_body", False):
                self.record_request()
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            message = _with_header(message, self.id_header)
            self.record_request()  # an app that answers without reading the body
            self.status = message["status"]
            self.response_headers = _headers(message.get("headers", ()))
            self.event_stream = self.response_headers.get("content-type", "").startswith("text/event-stream")
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if self.event_stream:
                if body:
                    self.stream_chunks += 1
                    self.stream_bytes += len(body)
                    self.trace.record(
                        "formatted_client_stream_event",
                        _sse_frames(bytes(body).decode("utf-8", "replace")),
                        direction="stream",
                        chunk=self.stream_chunks,
                    )
            else:
                self.response_truncated |= _append_bounded(self.response_body, body, self.limit)
            if not message.get("more_body", False):
                self.record_response(complete=True)
        await self._send(message)

    def record_request(self) -> None:
        if self.request_recorded:
            return
        self.request_recorded = True
        scope = self.scope
        headers = _headers(scope.get("headers", ()))
        data: dict[str, Any] = {
            "method": scope.get("method"),
            "path": scope.get("path"),
            "query": _query(scope.get("query_string", b"")),
            "headers": headers,
            "body": _body(self.request_body, headers.get("content-type", ""), self.request_truncated),
        }
        if scope.get("root_path"):
            data["root_path"] = scope["root_path"]
        if self.request_truncated:
            data["body_truncated"] = True
        self.request_body = bytearray()
        self.trace.record("raw_client_request", data, direction="request")

    def record_response(self, *, complete: bool) -> None:
        if self.response_recorded:
            return
        self.response_recorded = True
        data: dict[str, Any] = {"status": self.status, "headers": self.response_headers}
        if self.event_stream:
            data["stream"] = {"chunks": self.stream_chunks, "bytes": self.stream_bytes}
        else:
            content_type = self.response_headers.get("content-type", "")
            data["body"] = _body(self.response_body, content_type, self.response_truncated)
            if self.response_truncated:
                data["body_truncated"] = True
        if not complete:
            data["incomplete"] = True
        self.response_body = bytearray()
        self.trace.record("final_client_response", data, direction="response")

    def record_unfinished_response(self) -> None:
        if self.status is not None:
            self.record_response(complete=False)


def _with_header(message: Message, header: tuple[bytes, bytes]) -> Message:
    name = header[0]
    headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != name]
    headers.append(header)
    return {**message, "headers": headers}


def _append_bounded(buffer: bytearray, chunk: bytes, limit: int) -> bool:
    """Append what fits of ``chunk``; True when something did not."""
    room = limit - len(buffer)
    if len(chunk) <= room:
        buffer += chunk
        return False
    if room > 0:
        buffer += chunk[:room]
    return True


def _headers(pairs: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _query(query_string: bytes) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name not in query:
            query[name] = value
        elif isinstance(query[name], list):
            query[name].append(value)
        else:
            query[name] = [query[name], value]
    return query


def _sse_frames(text: str) -> list[dict[str, Any]]:
    """The SSE frames of one chunk, each ``data`` as the JSON it encodes when it does (so that redaction by key
    name reaches inside): ``{"event": ..., "data": ...}``, or ``{"comment": ...}`` for a comment line."""
    frames: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        frame: dict[str, Any] = {}
        data: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "event":
                frame["event"] = value
            elif field == "" and line:
                frames.append({"comment": value})
        if data:
            joined = "\n".join(data)
            try:
                frame["data"] = _json.loads(joined) if joined[:1] in ("{", "[") else joined
            except _json.JSONDecodeError:
                frame["data"] = joined
        if frame:
            frames.append(frame)
    return frames


def _body(body: bytearray, content_type: str, truncated: bool) -> Any:
    """JSON as the object it encodes (so key-name redaction reaches inside), else text, else a size note."""
    if not body:
        return None
    raw = bytes(body)
    if not truncated and ("json" in content_type or raw[:1] in (b"{", b"[")):
        try:
            return _json.loads(raw)
        except _json.JSONDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if truncated:
            return raw.decode("utf-8", "replace")
        return f"<{len(raw)} bytes, not UTF-8>"
