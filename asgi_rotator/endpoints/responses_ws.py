"""The Responses API over WebSocket (``/v1/responses``), as OpenAI's WebSocket mode speaks it.

The client sends ``{"type": "response.create", ...}`` with the fields of ``POST /v1/responses`` (``stream``
is implicit) and receives the same events as over SSE, one JSON text message each. Responses run one at a
time per connection, in the order they arrive; a ``store: false`` response can still be continued on the
same connection. A disconnect cancels the upstream call at once.

``generate: false`` (the warm-up Codex and the openai SDK send before a turn) is answered here, never upstream:
a completed, empty response that the next turn continues by ``previous_response_id``, its input items part of
the conversation. Every turn writes its own trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from .. import _json
from ..caller import Caller
from ..errors import GatewayError, invalid_request
from ..hooks import PreRequest, PreRequestHook
from ..http.asgi import request_headers
from ..http.auth import ClientAuth
from ..protocols._common import new_id
from ..protocols.accumulate import StreamAccumulator
from ..protocols.base import WireProtocol
from ..protocols.unified import StreamEvent, Usage
from ..responses_api.store import StoredResponse
from ..tracing import RequestTrace, TraceWriter
from ..types import Message, Receive, Scope, Send
from ..upstream.call import Call
from .base import run_hook
from .generation import Generation, client_formatter, stream_stats


class ResponsesWebSocket:
    """The Responses API's WebSocket mode at ``/v1/responses``.

    Args:
        auth: checks the client key presented on the handshake.
        generation: prepares, runs and accounts each response.
        protocol: the Responses protocol (the app's registered one).
        tracer: writes one trace per turn.
    """

    def __init__(
        self,
        auth: ClientAuth,
        generation: Generation,
        protocol: WireProtocol,
        tracer: TraceWriter,
        *,
        hook: PreRequestHook | None = None,
    ) -> None:
        self._auth = auth
        self._generation = generation
        self._protocol = protocol
        self._tracer = tracer
        self._hook = hook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one connection until the client closes it."""
        headers = request_headers(scope)
        if (await receive())["type"] != "websocket.connect":
            return
        caller = self._auth.authenticate(headers, scope.get("query_string", b""))
        if caller is None:
            await send({"type": "websocket.close", "code": 1008, "reason": "invalid API key"})
            return
        await send({"type": "websocket.accept"})
        connection = _Connection(self._generation, self._protocol, caller, headers, send, self._tracer, self._hook)
        await _serve(connection, receive)


async def _serve(connection: _Connection, receive: Receive) -> None:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    listener = asyncio.ensure_future(_listen(receive, inbox))
    waiting: deque[Message] = deque()
    try:
        while True:
            message = waiting.popleft() if waiting else await inbox.get()
            if message["type"] == "websocket.disconnect":
                return
            work = asyncio.ensure_future(connection.handle(message))
            # Only a disconnect interrupts a response in flight; other events queue and run in order (a client
            # may send the next response.create the moment it sees the previous terminal event).
            while not work.done():
                waiter = asyncio.ensure_future(inbox.get())
                done, _ = await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if waiter in done:
                    early = waiter.result()
                    if early["type"] == "websocket.disconnect":
                        work.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await work
                        return
                    waiting.append(early)
                else:
                    waiter.cancel()
            work.result()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _listen(receive: Receive, inbox: asyncio.Queue[Message]) -> None:
    while True:
        message = await receive()
        await inbox.put(message)
        if message["type"] == "websocket.disconnect":
            return


class _Connection:
    """Per-connection state: who is calling, and the last unstored response (still continuable here)."""

    def __init__(
        self,
        generation: Generation,
        protocol: WireProtocol,
        caller: Caller,
        headers: dict[str, str],
        send: Send,
        tracer: TraceWriter,
        hook: PreRequestHook | None,
    ) -> None:
        self.hook = hook
        self.generation = generation
        self.protocol = protocol
        self.caller = caller
        self.headers = headers
        self.send = send
        self.tracer = tracer
        self.unstored: StoredResponse | None = None

    async def handle(self, message: Message) -> None:
        try:
            event = _json.loads(message.get("text") or message.get("bytes") or b"")
        except _json.JSONDecodeError:
            await self.error(invalid_request("WebSocket messages must be JSON events."))
            return
        if not isinstance(event, dict) or event.get("type") != "response.create":
            await self.error(invalid_request("Send events of type 'response.create'.", param="type"))
            return
        body: dict[str, Any] = {k: v for k, v in event.items() if k not in ("type", "generate")}
        body["stream"] = True
        trace = self.tracer.begin(new_id(""), protocol=self.protocol.name, transport="websocket")
        if trace is not None:
            trace.owner = self.caller.owner
            trace.record("raw_client_request", event, direction="request")
        try:
            await self.respond(body, generate=event.get("generate") is not False, trace=trace)
        except GatewayError as error:
            if trace is not None:
                trace.error("final_client_response", error, status=error.status)
            await self.error(error)
        finally:
            if trace is not None:
                await trace.close()

    async def respond(self, body: dict[str, Any], *, generate: bool, trace: RequestTrace | None) -> None:
        generation = self.generation
        if self.hook is not None:
            seen = PreRequest(
                self.protocol.name,
                "generate",
                "/v1/responses",
                body,
                None,
                self.headers,
                self.caller.scope,
                self.caller.key_id,
            )
            body = await run_hook(self.hook, seen)
        request = self.protocol.parse_request(body)
        call, plan = await generation.prepare(
            self.protocol, request, self.caller, self.headers, unstored=self.unstored, trace=trace
        )
        response_id = new_id(self.protocol.id_prefix)
        if not generate:
            await self.warm_up(call, response_id, trace)
            return
        formatter = client_formatter(call, response_id)
        accumulator = StreamAccumulator(response_id, request.model)
        events = generation.stream_events(call, plan)
        frames = size = 0
        stats = None
        final_body = None
        try:
            try:
                async for event in events:
                    accumulator.feed(event)
                    final_body = formatter.final_response(event) or final_body
                    for frame in formatter.feed(event):
                        text = _json.dumps_str(frame.data)
                        frames, size = frames + 1, size + len(text.encode())
                        await self.send({"type": "websocket.send", "text": text})
                    if event.kind in ("end", "error"):
                        break
            finally:
                await events.aclose()  # type: ignore[attr-defined]
            final = accumulator.response()
            stats = stream_stats(call, "failed" if final.stop_reason == "error" else "completed", frames, size)
            record = await generation.finish(call, self.caller, final, final_body, stream=stats, unstored=self.unstored)
            if trace is not None:
                trace.record("final_client_response", record.response if record else None, direction="response")
        finally:
            # Whatever finish did not settle (the socket went away mid-answer) is settled here.
            failed = stats is None or stats.outcome == "failed"
            await generation.account(call, self.caller, failed=failed, stream=stats)
        if record is not None and request.store is False:
            self.unstored = record

    async def warm_up(self, call: Call, response_id: str, trace: RequestTrace | None) -> None:
        """Answer ``generate: false`` here: a completed, empty response, kept (never stored) for the next turn
        to continue on this connection; no provider is asked."""
        request = call.request
        formatter = self.protocol.stream_formatter(request, response_id)
        accumulator = StreamAccumulator(response_id, request.model)
        start = StreamEvent("start", id=response_id, name=request.model)
        for event in (start, StreamEvent("end", usage=Usage(), stop_reason="stop")):
            accumulator.feed(event)
            for frame in formatter.feed(event):
                await self.send({"type": "websocket.send", "text": _json.dumps_str(frame.data)})
        self.unstored = self.generation.record(call, self.caller, accumulator.response(), unstored=self.unstored)
        if trace is not None and self.unstored is not None:
            trace.record("final_client_response", self.unstored.response, direction="response", generate=False)

    async def error(self, error: GatewayError) -> None:
        payload = self.protocol.format_error(error)
        await self.send(
            {"type": "websocket.send", "text": _json.dumps_str({"type": "error", "status": error.status, **payload})}
        )
