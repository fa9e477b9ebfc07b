"""The gateway runtime: the dispatch of each request to the services of one configuration
(:mod:`asgi_rotator.composition` builds them).

Dispatch checks run in a fixed order (auth 401, then the route 404/405,
then, in the endpoint, body size 413 and JSON and schema 400) and every error leaves in the client protocol's
own shape. A request that already started its response never gets a second ``http.response.start``.
"""

from __future__ import annotations

import logging

from . import _json
from .caller import IN_PROCESS_CALLER
from .composition import Collaborators, compose
from .config.models import RotatorConfig
from .endpoints.base import Request
from .endpoints.generation import error_headers
from .endpoints.output_protocol import requested_output
from .errors import BackendError, ClientDisconnected, GatewayError
from .http.asgi import encode_headers, relative_path, request_headers, send_bytes
from .http.auth import scrub_query_key
from .http.routes import Route, match, protocol_for_path
from .protocols.base import WireProtocol
from .tracing import SCOPE_REQUEST_ID, RequestTrace, TracingMiddleware, current_trace
from .tracing.observation import Observation
from .types import Message, Receive, Scope, Send
from .upstream.connections import Connections

logger = logging.getLogger("asgi_rotator")


class Gateway:
    """Everything one configuration runs on. Built at startup and for each runtime configuration change, which
    retires the previous one: a retired gateway finishes the requests it has, then closes.

    Args:
        config: the validated configuration.
        given: the registries, the runtime configuration, and the clock when the caller brings its own.
        connections: the state backend and upstream transports, shared by every gateway of the app and closed
            by the app, not here.
    """

    def __init__(self, config: RotatorConfig, given: Collaborators, connections: Connections) -> None:
        services = compose(config, given, connections)
        self._endpoints = services.endpoints
        self._websocket = services.websocket
        self._auth = services.auth
        self._observer = services.observer
        self._prometheus = services.prometheus
        self._closers = services.closers
        self._protocols = given.protocols
        self._max_body = config.server.max_body_bytes
        self._hook = given.pre_request
        self._in_flight = 0
        self._retired = False
        #: Request ids in and out, and the client-side trace passes around an observed dispatch.
        self._traced = TracingMiddleware(self._observed, writer=services.tracer)

    async def aclose(self) -> None:
        """Stop background discovery, close the pool's lease renewer and finish writing request summaries and
        usage counters (the connections stay open for the app's other gateways)."""
        closers, self._closers = self._closers, []
        for close in closers:
            await close()

    async def retire(self) -> None:
        """Take no more requests (the app sends them to a newer gateway) and close once the last one ends."""
        self._retired = True
        if not self._in_flight:
            await self.aclose()

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP requests. The gateway's own ``/rotator/*`` routes and the mount root's probe are neither traced
        nor observed: a dashboard polls them every few seconds, and they would bury the requests that matter."""
        self._in_flight += 1
        try:
            path = relative_path(scope)
            if path.startswith("/rotator") or path in ("", "/"):
                await self._dispatch(scope, receive, send)
            else:
                await self._traced(scope, receive, send)
        finally:
            await self._done()

    async def _done(self) -> None:
        self._in_flight -= 1
        if self._retired and not self._in_flight:
            await self.aclose()

    async def _observed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch with the request's observation: its span ends before the answer's last byte is sent, and its
        summary goes to the log and the recent-request list once the answer is out."""
        path = relative_path(scope).rstrip("/") or "/"  # Litestar appends a slash
        observation = self._observer.begin(
            scope[SCOPE_REQUEST_ID], scope["method"], path, protocol=protocol_for_path(path)
        )

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                observation.summary.status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                observation.end_span()
            await send(message)

        try:
            await self._dispatch(scope, receive, observed, observation)
        finally:
            self._observer.end(observation)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket requests: the Responses API at ``/v1/responses``; any other path is refused."""
        path = relative_path(scope)
        if path.rstrip("/") != "/v1/responses":
            await receive()
            await send({"type": "websocket.close", "code": 1008, "reason": f"no WebSocket route at {path}"})
            return
        self._in_flight += 1
        try:
            await self._websocket(scope, receive, send)
        finally:
            await self._done()

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, observation: Observation | None = None
    ) -> None:
        """Serve one HTTP request (its path is taken relative to the mount)."""
        path = relative_path(scope)
        protocol = self._protocols.get(protocol_for_path(path))
        trace = current_trace(scope)
        if trace is not None:
            trace.protocol = protocol.name
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        request: Request | None = None
        try:
            request = self._route(scope, receive, path, trace)
            protocol = request.protocol
            if observation is not None:
                request.observation = observation
                observation.summary.protocol, observation.summary.scope = protocol.name, request.caller.scope
            await self._endpoints[request.route.endpoint](request, tracked)
        except ClientDisconnected:
            if observation is not None:
                observation.summary.error = "client_disconnected"
            return
        except Exception as exc:
            error = self._client_error(exc, scope, path)
            if request is not None:
                protocol = request.answer_protocol
            if trace is not None:
                trace.error("gateway", error, status=error.status)
            if observation is not None:
                observation.summary.error = error.kind
            if started:
                # The status line is gone; the stream's own in-band terminal is the only channel left.
                logger.error("asgi_rotator: %s after the response started: %s", type(exc).__name__, exc)
                return
            self._prometheus.observe_error(error.kind)
            headers = [(b"content-type", b"application/json"), *encode_headers(error_headers(error))]
            await send_bytes(send, error.status, _json.dumps(protocol.format_error(error)), headers)

    def _route(self, scope: Scope, receive: Receive, path: str, trace: RequestTrace | None) -> Request:
        """Authenticate, then route: a caller without a valid key learns nothing about which paths exist."""
        headers = request_headers(scope)
        query = scope.get("query_string", b"")
        route: Route | None = None
        unmatched: GatewayError | None = None
        try:
            route = match(scope["method"], path)
        except GatewayError as error:
            unmatched = error
        caller = scope.get(IN_PROCESS_CALLER) or self._auth.authenticate(headers, query)
        if b"key=" in query:
            # A ?key= client key would otherwise reach the server's access log with the path.
            scope["query_string"] = query = scrub_query_key(query)
        if route is not None and route.public:
            caller = caller or self._auth.anonymous
        elif caller is None:
            raise GatewayError("authentication", "Missing or invalid API key for this gateway.")
        if trace is not None:
            trace.owner = caller.owner
        if unmatched is not None or route is None:
            raise unmatched or GatewayError("not_found", f"No route for {path}.")
        protocol: WireProtocol = self._protocols.get(route.protocol)
        request = Request(
            route, protocol, caller, headers, query, receive, self._max_body, trace, hook=self._hook, path=path
        )
        request.output_protocol = requested_output(self._protocols, headers)
        request.output_requested = request.output_protocol is not None
        return request

    @staticmethod
    def _client_error(exc: Exception, scope: Scope, path: str) -> GatewayError:
        if isinstance(exc, GatewayError):
            return exc
        if isinstance(exc, BackendError):  # the backend logs each outage once, when it begins and ends
            logger.debug("asgi_rotator: state backend failure: %s", exc)
            return GatewayError(
                "no_credentials", "The gateway's state backend is unavailable; retry shortly.", retry_after=5
            )
        logger.error("asgi_rotator: unexpected error on %s %s", scope.get("method"), path, exc_info=exc)
        return GatewayError("internal", "The gateway failed unexpectedly.")
