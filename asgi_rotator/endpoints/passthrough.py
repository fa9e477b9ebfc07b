"""Passthrough routes: ``/v1/completions``, ``/v1/images/generations``, ``/v1/images/edits``,
``/v1/audio/transcriptions``, ``/v1/audio/speech``, ``/v1/moderations`` and ``/v1/rerank``.

Bodies go to an OpenAI-compatible provider untouched but for the model name. Uploads (multipart) are spooled,
never held whole in memory, and obey ``server.max_body_bytes``; binary and event-stream answers are streamed
to the client as they arrive.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from .. import _json
from ..errors import invalid_request
from ..http.asgi import encode_headers, send_json
from ..http.multipart import SpooledForm, spool_form
from ..protocols.passthrough import passthrough_usage
from ..sse import SSEDecoder
from ..types import Send
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
            failed = not await _stream(call, answer.response, answer.status, answer.content_type, send)
        await self._account(call, request.caller, failed)


async def _stream(call: Call, response: httpx.Response, status: int, content_type: str, send: Send) -> bool:
    """Stream an upstream answer to the client as it arrives (server-sent events are read for usage on the
    way); True when it arrived whole."""
    headers = [("content-type", content_type), *served_headers(call)]
    await send({"type": "http.response.start", "status": status, "headers": encode_headers(headers)})
    decoder = SSEDecoder() if content_type.startswith("text/event-stream") else None
    try:
        async for chunk in response.aiter_raw():
            if decoder is not None:
                for _, data in decoder.feed(chunk):
                    if data.startswith("{") and '"usage"' in data:
                        call.usage = passthrough_usage(_json.loads(data)) or call.usage
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except httpx.HTTPError as exc:
        # The status line is gone: the client sees a cut answer, and the failure is logged and accounted.
        logger.error("asgi_rotator: passthrough answer cut short: %s", type(exc).__name__)
        await send({"type": "http.response.body", "body": b""})
        return False
    finally:
        await response.aclose()
    await send({"type": "http.response.body", "body": b""})
    return True
