"""Passthrough routes: ``/v1/completions``, ``/v1/images/generations``, ``/v1/images/edits``,
``/v1/audio/transcriptions``, ``/v1/audio/speech``, ``/v1/moderations`` and ``/v1/rerank``.

Bodies go to an OpenAI-compatible provider untouched but for the model name. Uploads (multipart) are spooled,
never held whole in memory, and obey ``server.max_body_bytes``; binary and event-stream answers are streamed
to the client as they arrive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from .. import _json
from ..errors import invalid_request
from ..http.asgi import encode_headers, send_json
from ..http.multipart import SpooledForm, spool_form
from ..protocols.passthrough import passthrough_usage
from ..sse import SSEDecoder
from ..types import Receive, Send
from ..upstream.call import Call
from ..upstream.passthrough import PassthroughCalls
from .base import Request
from .embeddings import AccountCall, Admission
from .generation import served_headers

logger = logging.getLogger("asgi_rotator")


class Passthrough:
    """Forwards passthrough requests with rotation, cooldowns, usage and traces.

    Args:
        admission: budget check and plan.
        calls: the upstream passthrough calls.
        account: records usage and cost once the answer went out.
    """

    def __init__(self, admission: Admission, calls: PassthroughCalls, account: AccountCall) -> None:
        self._admission = admission
        self._calls = calls
        self._account = account

    async def forward(self, request: Request, send: Send) -> None:
        """``POST`` a passthrough request; the answer is the provider's, with the model as the client named it."""
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            body = await request.json()
            await self._forward(request, send, body, body.get("model"))
            return
        form = await spool_form(request.receive, content_type, request.max_body_bytes, ("model",))
        try:
            model = (await request.vetted({"model": form.value("model")})).get("model")
            await self._forward(request, send, form, model)
        finally:
            form.close()

    async def _forward(self, request: Request, send: Send, body: dict[str, Any] | SpooledForm, model: object) -> None:
        if not isinstance(model, str) or not model:
            raise invalid_request("'model' is required: name it as provider/model.", param="model")
        path = request.route.upstream_path or ""
        call, plan = await self._admission.admit(
            model, request.protocol, request.caller, request.headers, request.trace, operation=path
        )
        answer = await self._calls.send(call, plan, path, body)
        if answer.json is not None:
            if isinstance(answer.json.get("model"), str):
                answer.json["model"] = model
            await send_json(send, answer.status, answer.json, served_headers(call))
            failed = False
        else:
            assert answer.response is not None
            response, status, kind = answer.response, answer.status, answer.content_type
            failed = not await _stream(call, response, status, kind, send, request.receive)
        await self._account(call, request.caller, failed)


async def _stream(
    call: Call, response: httpx.Response, status: int, content_type: str, send: Send, receive: Receive
) -> bool:
    """Stream an upstream answer to the client as it arrives (server-sent events are read for usage on the
    way); False when the upstream cut it short. A client that leaves stops the upstream read at once."""
    headers = [("content-type", content_type), *served_headers(call)]
    await send({"type": "http.response.start", "status": status, "headers": encode_headers(headers)})
    forwarding = asyncio.ensure_future(_forward_body(call, response, content_type, send))
    departure = asyncio.ensure_future(_departed(receive))
    try:
        await asyncio.wait((forwarding, departure), return_when=asyncio.FIRST_COMPLETED)
    finally:
        departure.cancel()
        if not forwarding.done():
            forwarding.cancel()  # the client is gone: stop reading what nobody will receive
        await asyncio.gather(forwarding, departure, return_exceptions=True)
        await response.aclose()
    if forwarding.cancelled():
        return True  # the client left: not the upstream's failure, and what it served until then is accounted
    error = forwarding.exception()
    if error is not None:
        # The status line is gone: the client sees a cut answer, and the failure is logged and accounted.
        logger.error("asgi_rotator: passthrough answer cut short: %s", type(error).__name__)
        await send({"type": "http.response.body", "body": b""})
        return False
    return True


async def _forward_body(call: Call, response: httpx.Response, content_type: str, send: Send) -> None:
    decoder = SSEDecoder() if content_type.startswith("text/event-stream") else None
    async for chunk in response.aiter_raw():
        if decoder is not None:
            for _, data in decoder.feed(chunk):
                if data.startswith("{") and '"usage"' in data:
                    call.usage = passthrough_usage(_json.loads(data)) or call.usage
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _departed(receive: Receive) -> None:
    """Returns when the client disconnects (the request body was read before the answer started)."""
    while (await receive())["type"] != "http.disconnect":
        pass
