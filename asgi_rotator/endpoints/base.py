"""What every endpoint is handed: the request as the dispatcher authenticated and routed it.

An endpoint is any ``async (request, send)`` callable; its collaborators come in through its constructor, so
no endpoint knows the gateway that built it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from .. import _json
from ..caller import OWN_KEY_HEADER, Caller
from ..errors import invalid_request
from ..hooks import PreRequest, PreRequestHook
from ..http.asgi import read_body
from ..http.routes import Route
from ..protocols.base import WireProtocol
from ..tracing.observation import Observation
from ..tracing.writer import RequestTrace
from ..types import Receive, Send

#: Headers a hook never sees: the client's gateway key and its own provider key.
_PRIVATE_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", OWN_KEY_HEADER})


@dataclass(slots=True)
class Request:
    """One routed, authenticated request."""

    route: Route
    #: The client's protocol: its shape for answers and errors.
    protocol: WireProtocol
    caller: Caller
    headers: dict[str, str]
    query_string: bytes
    receive: Receive
    max_body_bytes: int
    trace: RequestTrace | None = None
    #: The request's summary and span (None for the gateway's own ``/rotator/*`` routes, which are not observed).
    observation: Observation | None = None
    #: The app's ``pre_request`` hook, if it has one.
    hook: PreRequestHook | None = None
    path: str = ""
    #: The protocol the answer (body, stream events, errors) takes when it is not the client's: the
    #: ``X-Proxy-Output-Protocol`` header's, else the serving provider's ``default_output_protocol``.
    output_protocol: WireProtocol | None = None
    #: The output protocol came from the request's header (it wins over a provider's default).
    output_requested: bool = False

    @property
    def answer_protocol(self) -> WireProtocol:
        """The protocol whose shape the answer and its errors take."""
        return self.output_protocol or self.protocol

    async def json(self) -> dict[str, Any]:
        """The body as a JSON object, through the ``pre_request`` hook: a 413 past the size limit, a 400 when
        it is not a JSON object, the hook's error when it denies the request."""
        return await self.vetted(await self.json_object())

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, not shown to the hook (the gateway's own admin routes): a 413 past the
        size limit, a 400 when it is not a JSON object."""
        body = await read_body(self.receive, self.max_body_bytes)
        try:
            payload = _json.loads(body)
        except _json.JSONDecodeError:
            raise invalid_request("The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise invalid_request("The request body must be a JSON object.")
        return payload

    async def vetted(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as the ``pre_request`` hook leaves it (unchanged without a hook).

        Raises:
            RequestDenied: the hook refused the request.
        """
        if self.hook is None:
            return body
        seen = PreRequest(
            self.protocol.name,
            self.route.endpoint,
            self.path,
            body,
            self.route.model,
            self.headers,
            self.caller.scope,
            self.caller.key_id,
        )
        return await run_hook(self.hook, seen)

    def query(self) -> dict[str, str]:
        """The query parameters (a repeated one keeps its last value)."""
        return {k: v[-1] for k, v in parse_qs(self.query_string.decode("latin-1")).items()}


async def run_hook(hook: PreRequestHook, request: PreRequest) -> dict[str, Any]:
    """The body ``hook`` leaves ``request`` with; the hook never sees the client's own keys."""
    request.headers = {k: v for k, v in request.headers.items() if k not in _PRIVATE_HEADERS}
    replaced = await hook(request)
    if replaced is not None and not isinstance(replaced, dict):
        raise TypeError("a pre_request hook returns a body dict or None")
    return request.body if replaced is None else replaced


#: An endpoint: it answers ``request`` through ``send``, raising :class:`~asgi_rotator.errors.GatewayError`
#: for anything the client should see as an error (the dispatcher renders it in the client's protocol).
Endpoint = Callable[[Request, Send], Awaitable[None]]
