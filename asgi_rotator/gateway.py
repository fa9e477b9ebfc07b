"""The gateway runtime: the services one app runs on, and the dispatch of each request to its handler.

Checks run in a fixed order (auth 401, body size 413, JSON and schema 400, routing 404) and every error
leaves in the client protocol's own shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from . import _json
from .config.models import RotatorConfig
from .credentials.pool import CredentialPool
from .endpoints import admin, responses as stored_responses
from .endpoints.generation import Generation, error_headers
from .endpoints.responses_ws import serve_websocket
from .errors import BackendError, GatewayError, invalid_request
from .http.asgi import (
    ClientDisconnected,
    encode_headers,
    read_body,
    relative_path,
    request_headers,
    send_bytes,
    send_json,
)
from .http.auth import Client, ClientAuth
from .http.routes import Route, match, protocol_for_path
from .pipeline import FieldCache
from .protocols import get_protocol
from .protocols.base import WireProtocol
from .responses_api.service import ResponsesService
from .responses_api.store import ResponseStore
from .routing.planner import Planner
from .sessions import SessionTracker
from .state import StateBackend, backend_from_config
from .tracing import TraceWriter, TracingMiddleware, current_trace
from .types import Receive, Scope, Send
from .upstream.executor import Executor
from .upstream.transport import UpstreamTransport
from .usage.accounting import Accounting

logger = logging.getLogger("asgi_rotator")


class Gateway:
    """Everything one app instance runs on. Built at startup, closed at shutdown.

    Args:
        config: the validated configuration.
        backend: shared state; by default the one ``config.state`` names.
        upstream_transport: the httpx transport upstream requests go through; by default one pooled
            ``httpx.AsyncHTTPTransport`` (tests pass ``httpx.ASGITransport(app=FakeUpstream())``).
        clock: Unix time, for tests that need a fake one.
    """

    def __init__(
        self,
        config: RotatorConfig,
        *,
        backend: StateBackend | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.backend = backend or backend_from_config(config.state, clock=clock)
        self.upstream = UpstreamTransport(
            upstream_transport
            or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200)),
            config.server,
        )
        self.auth = ClientAuth(config.auth)
        self.pool = CredentialPool(config, self.backend, clock=clock)
        self.planner = Planner(config)
        self.sessions = SessionTracker(config, self.backend)
        self.responses = ResponsesService(
            ResponseStore(self.backend, config.responses, prefix=config.state.prefix), config.responses
        )
        self.field_cache = FieldCache(
            self.backend,
            prefix=config.state.prefix,
            rules_by_provider={name: p.field_cache for name, p in config.providers.items()},
        )
        self.executor = Executor(config, self.pool, self.upstream, self.field_cache, clock=clock)
        self.accounting = Accounting(config, self.backend, clock=clock)
        self.tracer = TraceWriter(config.trace, _secrets(config))
        self.generation = Generation(self)
        #: The HTTP entry point: request ids in and out, and the client-side trace passes around ``handle``.
        self.http = TracingMiddleware(self.handle, writer=self.tracer)

    async def aclose(self) -> None:
        """Close the upstream connections, the pool's lease renewer and the state backend."""
        await self.pool.aclose()
        await self.upstream.aclose()
        await self.backend.aclose()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (its path is taken relative to the mount)."""
        path = relative_path(scope)
        protocol = get_protocol(protocol_for_path(path))
        trace = current_trace(scope)
        if trace is not None:
            trace.protocol = protocol.name
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
            if scope["method"] in ("GET", "DELETE"):
                await self._read(route, client, headers, scope.get("query_string", b""), send)
                return
            payload = _parse_json(await read_body(receive, self.config.server.max_body_bytes))
            request = protocol.parse_request(payload, model=route.model, operation=route.endpoint, stream=route.stream)
            await self.generation(
                protocol,
                request,
                client,
                headers,
                send,
                receive,
                count_tokens=route.endpoint == "count_tokens",
                trace=trace,
            )
        except GatewayError as error:
            self.accounting.metrics.observe_error(error.kind)
            if trace is not None:
                trace.error("gateway", error, status=error.status)
            await _send_error(send, protocol, error)
        except ClientDisconnected:
            return
        except BackendError as exc:
            logger.error("asgi_rotator: state backend failure: %s", exc)
            await _send_error(
                send,
                protocol,
                GatewayError(
                    "no_credentials", "The gateway's state backend is unavailable; retry shortly.", retry_after=5
                ),
            )
        except Exception:
            logger.exception("asgi_rotator: unexpected error on %s %s", scope.get("method"), path)
            await _send_error(send, protocol, GatewayError("internal", "The gateway failed unexpectedly."))

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """WebSocket requests: the Responses API at ``/v1/responses``; any other path is refused."""
        if path.rstrip("/") == "/v1/responses":
            await serve_websocket(self, scope, receive, send)
            return
        await receive()
        await send({"type": "websocket.close", "code": 1008, "reason": f"no WebSocket route at {path}"})

    async def _read(self, route: Route, client: Client, headers: dict[str, str], query: bytes, send: Send) -> None:
        store = self.responses.store
        if route.endpoint == "response_get" and route.item_id:
            await send_json(send, 200, await stored_responses.retrieve(store, route.item_id, client))
        elif route.endpoint == "response_delete" and route.item_id:
            await send_json(send, 200, await stored_responses.delete(store, route.item_id, client))
        elif route.endpoint == "response_input_items" and route.item_id:
            await send_json(send, 200, await stored_responses.input_items(store, route.item_id, client, query))
        elif route.endpoint == "models":
            gemini = route.protocol == "gemini" or ("x-goog-api-key" in headers and "authorization" not in headers)
            await send_json(send, 200, admin.models(self.config, gemini=gemini))
        elif route.endpoint == "credentials":
            await send_json(send, 200, await admin.credentials(self.pool, client))
        elif route.endpoint == "usage":
            await send_json(send, 200, await admin.usage(self.accounting, client, query))
        elif route.endpoint == "metrics":
            body, content_type = await admin.metrics(self.accounting, self.pool)
            await send_bytes(send, 200, body, [(b"content-type", content_type.encode())])
        elif route.endpoint == "trace" and route.item_id:
            await send_json(send, 200, await admin.trace(self.tracer, route.item_id, client))
        else:
            raise GatewayError("not_found", f"No route for GET {route.endpoint}.")


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = _json.loads(body)
    except _json.JSONDecodeError:
        raise invalid_request("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise invalid_request("The request body must be a JSON object.")
    return payload


def _secrets(config: RotatorConfig) -> list[str]:
    """Every configured credential and client key: traces must never contain any of them."""
    keys = [c.key for p in config.providers.values() for c in p.credentials]
    keys += [c.key for s in config.scopes.values() for p in s.providers.values() for c in p.credentials]
    keys += [k.key for k in (*config.auth.api_keys, *config.auth.admin_keys)]
    if config.state.fingerprint_key is not None:
        keys.append(config.state.fingerprint_key)
    return [k.get_secret_value() for k in keys]


async def _send_error(send: Send, protocol: WireProtocol, error: GatewayError) -> None:
    headers = [(b"content-type", b"application/json"), *encode_headers(error_headers(error))]
    await send_bytes(send, error.status, _json.dumps(protocol.format_error(error)), headers)
