"""The gateway runtime: the services one app runs on, and the request handlers that use them.

A request flows one way: auth, routing, the client protocol's parser, the planner, the executor, the client
protocol's formatter, and out as JSON or SSE. Checks run in a fixed order (auth 401, body size 413, JSON and
schema 400, routing 404) and every error leaves in the client protocol's own shape.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from . import _json
from .config.models import RotatorConfig
from .credentials.pool import CredentialPool
from .errors import GatewayError, invalid_request
from .http import admin
from .http.asgi import ClientDisconnected, encode_headers, read_body, request_headers, send_bytes, send_json
from .http.auth import Client, ClientAuth
from .http.routes import Route, match, protocol_for_path
from .http.streaming import send_event_stream
from .protocols import get_protocol
from .protocols._common import new_id, now
from .protocols.base import WireProtocol
from .routing.planner import Planner
from .state import StateBackend, backend_from_config
from .types import Receive, Scope, Send
from .upstream.executor import Call, Executor
from .upstream.transport import UpstreamTransport

logger = logging.getLogger("asgi_rotator")


class Gateway:
    """Everything one app instance runs on. Built at startup, closed at shutdown.

    Args:
        config: the validated configuration.
        backend: shared state; by default the one ``config.state`` names.
        http_client: the upstream client; by default one pooled client owned by the gateway.
        clock: Unix time, for tests that need a fake one.
    """

    def __init__(
        self,
        config: RotatorConfig,
        *,
        backend: StateBackend | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.backend = backend or backend_from_config(config.state, clock=clock)
        self._owns_client = http_client is None
        self.http_client = http_client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200), follow_redirects=False
        )
        self.auth = ClientAuth(config.auth)
        self.pool = CredentialPool(config, self.backend, clock=clock)
        self.planner = Planner(config)
        self.executor = Executor(config, self.pool, UpstreamTransport(self.http_client, config.server), clock=clock)

    async def aclose(self) -> None:
        """Close the upstream client (if the gateway made it), the pool's renewer and the backend."""
        await self.pool.aclose()
        if self._owns_client:
            await self.http_client.aclose()
        await self.backend.aclose()

    async def handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Serve one HTTP request whose mount-relative path is ``path``."""
        protocol = get_protocol(protocol_for_path(path))
        call: Call | None = None
        try:
            route = match(scope["method"], path)
            protocol = get_protocol(route.protocol)
            headers = request_headers(scope)
            if route.endpoint == "health":
                await send_json(send, 200, admin.health(self))
                return
            client = self.auth.authenticate(headers, scope.get("query_string", b""))
            if client is None:
                raise GatewayError("authentication", "Missing or invalid API key for this gateway.")
            if scope["method"] == "GET":
                await self._get(route, client, headers, send)
                return
            body = await read_body(receive, self.config.server.max_body_bytes)
            payload = _parse_json(body)
            request = protocol.parse_request(payload, model=route.model, operation=route.endpoint, stream=route.stream)
            plan = self.planner.plan(request.model, protocol.family)
            call = Call(request, protocol.family, client.scope, headers)
            if route.endpoint == "count_tokens":
                count = await self.executor.count_tokens(call, plan)
                await send_json(send, 200, protocol.format_count_tokens(count))
            elif request.stream:
                await self._stream(call, plan, protocol, send, receive)
            else:
                await self._complete(call, plan, protocol, send)
        except GatewayError as error:
            await self._send_error(send, protocol, error, call)
        except ClientDisconnected:
            return
        except Exception:
            logger.exception("asgi_rotator: unexpected error on %s %s", scope.get("method"), path)
            await self._send_error(send, protocol, GatewayError("internal", "The gateway failed unexpectedly."), call)

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """WebSocket requests: none is served yet, so the handshake is refused."""
        await receive()
        await send({"type": "websocket.close", "code": 1008, "reason": f"no WebSocket route at {path}"})

    async def _get(self, route: Route, client: Client, headers: dict[str, str], send: Send) -> None:
        if route.endpoint == "models":
            gemini = route.protocol == "gemini" or ("x-goog-api-key" in headers and "authorization" not in headers)
            await send_json(send, 200, admin.models(self.config, gemini=gemini))
        elif route.endpoint == "credentials":
            await send_json(send, 200, await admin.credentials(self.pool, client))
        else:
            raise GatewayError("not_found", f"No route for GET {route.endpoint}.")

    async def _complete(self, call: Call, plan: Any, protocol: WireProtocol, send: Send) -> None:
        response = await self.executor.generate(call, plan)
        response.id = new_id(protocol.id_prefix)
        response.created = response.created or now()
        body = protocol.format_response(response, call.request)
        await send_json(send, 200, body, _served_headers(call))

    async def _stream(self, call: Call, plan: Any, protocol: WireProtocol, send: Send, receive: Receive) -> None:
        formatter = protocol.stream_formatter(call.request, new_id(protocol.id_prefix))

        def error_response(error: GatewayError) -> tuple[int, bytes, list[tuple[str, str]]]:
            return error.status, _json.dumps(protocol.format_error(error)), _error_headers(error, call)

        await send_event_stream(
            send,
            receive,
            self.executor.stream(call, plan),
            formatter,
            headers=lambda: _served_headers(call),
            on_error_response=error_response,
            heartbeat_interval=self.config.streaming.heartbeat_interval,
        )

    async def _send_error(self, send: Send, protocol: WireProtocol, error: GatewayError, call: Call | None) -> None:
        body = _json.dumps(protocol.format_error(error))
        await send_bytes(
            send,
            error.status,
            body,
            [(b"content-type", b"application/json"), *encode_headers(_error_headers(error, call))],
        )


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = _json.loads(body)
    except _json.JSONDecodeError:
        raise invalid_request("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise invalid_request("The request body must be a JSON object.")
    return payload


def _served_headers(call: Call) -> list[tuple[str, str]]:
    headers = []
    if call.target is not None and call.credential is not None:
        headers += [("x-rotator-provider", call.target.name), ("x-rotator-credential", call.credential.masked)]
    if call.attempts:
        headers.append(("x-rotator-attempts", ", ".join(a.header_value() for a in call.attempts)))
    return headers


def _error_headers(error: GatewayError, call: Call | None) -> list[tuple[str, str]]:
    headers = []
    if error.retry_after is not None:
        headers.append(("retry-after", str(max(math.ceil(error.retry_after), 1))))
    if call is not None and call.attempts:
        headers.append(("x-rotator-attempts", ", ".join(a.header_value() for a in call.attempts)))
        # The gateway already rotated and retried: a client-side retry storm would not help.
        headers.append(("x-should-retry", "false"))
    return headers
