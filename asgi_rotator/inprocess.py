"""In-process calls: a Python app that holds a :class:`~asgi_rotator.RotatorASGI` calls it without HTTP.

Each call is one ASGI request handed straight to the app, so it takes exactly the path an HTTP request takes
(auth, routing, rotation, usage, traces), with no server, socket or lifespan. The caller acts as a global
client, or as the configured client key it names.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from . import _json
from .caller import IN_PROCESS_CALLER, OWN_KEY_HEADER, Caller
from .errors import APIStatusError
from .sse import SSEDecoder
from .types import ASGIApp, Message

#: Who an in-process call is when it names no client key: a global client with no budget.
GLOBAL_CALLER = Caller(key_id=None)


class InProcessClient:
    """Sends requests to an ASGI app in the same process and reads its answers.

    Args:
        app: the gateway (any ASGI app that answers JSON and server-sent events).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def json(
        self, path: str, body: Mapping[str, Any], *, client_key: str | None = None, provider_key: str | None = None
    ) -> dict[str, Any]:
        """``POST`` ``body`` to ``path`` and return the JSON answer.

        Raises:
            APIStatusError: the gateway answered with an error status.
        """
        exchange = _Exchange(self._app, _scope(path, client_key, provider_key), _json.dumps(body))
        status = await exchange.start()
        payload = b"".join([chunk async for chunk in exchange.body()])
        answer = _json.loads(payload) if payload else {}
        if status >= 400:
            raise APIStatusError(status, answer)
        return answer

    async def events(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        client_key: str | None = None,
        provider_key: str | None = None,
        query: bytes = b"",
    ) -> AsyncIterator[dict[str, Any]]:
        """``POST`` ``body`` to ``path`` and return the answer's server-sent events as JSON objects, once the
        gateway has accepted the request (an error before the stream starts raises here).

        Raises:
            APIStatusError: the gateway answered with an error status, or the stream ended in an error event.
        """
        exchange = _Exchange(self._app, _scope(path, client_key, provider_key, query), _json.dumps(body))
        status = await exchange.start()
        if status >= 400:
            payload = b"".join([chunk async for chunk in exchange.body()])
            raise APIStatusError(status, _json.loads(payload) if payload else {})
        return _decoded(exchange)


async def _decoded(exchange: _Exchange) -> AsyncIterator[dict[str, Any]]:
    decoder = SSEDecoder()
    try:
        async for chunk in exchange.body():
            for name, data in decoder.feed(chunk):
                if not data.strip() or data.strip() == "[DONE]":
                    continue
                event = _json.loads(data)
                if name == "error" or isinstance(event, dict) and "error" in event and set(event) <= {"error", "type"}:
                    raise APIStatusError(0, event)  # an in-band error: the stream did not succeed
                if isinstance(event, dict):
                    yield event
    finally:
        await exchange.close()


class _Exchange:
    """One request to the app running as a task: the request body goes in at once, the answer comes out as
    ASGI messages; closing early tells the app the client went away."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], body: bytes) -> None:
        self._app = app
        self._scope = scope
        self._request: Message | None = {"type": "http.request", "body": body, "more_body": False}
        self._sent: asyncio.Queue[Message | None] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> Message:
        if self._request is not None:
            request, self._request = self._request, None
            return request
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        await self._sent.put(message)

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self._receive, self._send)
        finally:
            await self._sent.put(None)

    async def start(self) -> int:
        """Run the app until it starts its answer; the answer's status."""
        self._task = asyncio.ensure_future(self._run())
        message = await self._sent.get()
        if message is None or message["type"] != "http.response.start":
            await self.close()
            raise RuntimeError("the gateway ended the request without an answer")
        return int(message["status"])

    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body chunks as the app sends them."""
        while True:
            message = await self._sent.get()
            if message is None:
                return
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                await self.close()
                return

    async def close(self) -> None:
        """Tell the app the caller is gone and wait for it to finish (it accounts what it served)."""
        self._gone.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _scope(path: str, client_key: str | None, provider_key: str | None, query: bytes = b"") -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"host", b"in-process")]
    if provider_key is not None:
        headers.append((OWN_KEY_HEADER.encode(), provider_key.encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": None,
        "server": None,
    }
    if client_key is None:
        scope[IN_PROCESS_CALLER] = GLOBAL_CALLER
    else:
        headers.append((b"authorization", f"Bearer {client_key}".encode()))
    return scope
