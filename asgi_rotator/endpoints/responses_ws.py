"""The Responses API over WebSocket (``/v1/responses``), as OpenAI's WebSocket mode speaks it.

The client sends ``{"type": "response.create", ...}`` with the fields of ``POST /v1/responses`` (``stream``
is implicit) and receives the same events as over SSE, one JSON text message each. Responses run one at a
time per connection, in the order they arrive; a ``store: false`` response can still be continued on the
same connection. A disconnect cancels the upstream call at once.
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
from ..responses_api.store import StoredResponse
from ..types import Message, Receive, Scope, Send
from .base import run_hook
from .generation import Generation, stream_stats


class ResponsesWebSocket:
    """The Responses API's WebSocket mode at ``/v1/responses``.

    Args:
        auth: checks the client key presented on the handshake.
        generation: prepares, runs and accounts each response.
        protocol: the Responses protocol (the app's registered one).
    """

    def __init__(
        self, auth: ClientAuth, generation: Generation, protocol: WireProtocol, *, hook: PreRequestHook | None = None
    ) -> None:
        self._auth = auth
        self._generation = generation
        self._protocol = protocol
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
        connection = _Connection(self._generation, self._protocol, caller, headers, send, self._hook)
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
        hook: PreRequestHook | None,
    ) -> None:
        self.hook = hook
        self.generation = generation
        self.protocol = protocol
        self.caller = caller
        self.headers = headers
        self.send = send
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
        body: dict[str, Any] = {k: v for k, v in event.items() if k != "type"}
        body["stream"] = True
        try:
            await self.respond(body)
        except GatewayError as error:
            await self.error(error)

    async def respond(self, body: dict[str, Any]) -> None:
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
        call, plan = await generation.prepare(self.protocol, request, self.caller, self.headers, unstored=self.unstored)
        response_id = new_id(self.protocol.id_prefix)
        formatter = self.protocol.stream_formatter(request, response_id)
        accumulator = StreamAccumulator(response_id, request.model)
        events = generation.stream_events(call, plan)
        frames = size = 0
        stats = None
        try:
            try:
                async for event in events:
                    accumulator.feed(event)
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
            record = await generation.finish(call, self.caller, final, stream=stats)
        finally:
            # Whatever finish did not settle (the socket went away mid-answer) is settled here.
            failed = stats is None or stats.outcome == "failed"
            await generation.account(call, self.caller, failed=failed, stream=stats)
        if record is not None and request.store is False:
            self.unstored = record

    async def error(self, error: GatewayError) -> None:
        payload = self.protocol.format_error(error)
        await self.send(
            {"type": "websocket.send", "text": _json.dumps_str({"type": "error", "status": error.status, **payload})}
        )
