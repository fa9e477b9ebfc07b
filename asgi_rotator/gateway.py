"""The gateway runtime: every service built once from the config, and the dispatch of each request.

This module is the composition root. It builds the services and hands each endpoint exactly the collaborators
it uses; no endpoint knows the gateway. Dispatch checks run in a fixed order (auth 401, then the route 404/405,
then, in the endpoint, body size 413 and JSON and schema 400) and every error leaves in the client protocol's
own shape. A request that already started its response never gets a second ``http.response.start``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import _json
from .caller import IN_PROCESS_CALLER
from .config.models import RotatorConfig
from .credentials.pool import CredentialPool
from .endpoints.admin import Introspection, dashboard_page
from .endpoints.base import Endpoint, Request
from .endpoints.embeddings import Admission, Embeddings
from .endpoints.generation import Generation, error_headers
from .endpoints.models import ModelListing
from .endpoints.output_protocol import requested_output
from .endpoints.passthrough import Passthrough
from .endpoints.responses_ws import ResponsesWebSocket
from .endpoints.runtime_config import RuntimeConfigRoutes
from .endpoints.stored_responses import StoredResponses
from .errors import BackendError, ClientDisconnected, GatewayError
from .hooks import PreRequestHook
from .http.asgi import encode_headers, relative_path, request_headers, send_bytes
from .http.auth import ClientAuth, scrub_query_key
from .http.routes import Route, match, protocol_for_path
from .pipeline import AdapterRegistry, FieldCache
from .planner import Planner
from .protocols.base import WireProtocol
from .protocols.registry import ProtocolRegistry
from .responses_api.service import ResponsesService
from .responses_api.store import ResponseStore
from .runtime import RuntimeConfig
from .sessions import SessionTracker
from .state.keys import Keyspace
from .tracing import SCOPE_REQUEST_ID, RequestTrace, TraceWriter, TracingMiddleware, current_trace
from .tracing.observation import Observation, RequestObserver
from .tracing.otel import Telemetry
from .tracing.request_log import RequestLog
from .types import Message, Receive, Scope, Send
from .upstream.connections import Connections
from .upstream.discovery import ModelDiscovery
from .upstream.embedding_batcher import EmbeddingBatcher
from .upstream.embeddings import EmbeddingCalls
from .upstream.executor import Executor
from .upstream.oauth import OAuthCredentials
from .upstream.passthrough import PassthroughCalls
from .upstream.token_endpoint import TokenEndpoint
from .upstream.transport import UpstreamTransport
from .usage.accounting import Accounting
from .usage.recent import RecentRequests

logger = logging.getLogger("asgi_rotator")


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What the composition root takes from outside: the app's registries, its runtime configuration and the
    test seams."""

    protocols: ProtocolRegistry
    adapters: AdapterRegistry
    runtime: RuntimeConfig
    clock: Callable[[], float] = time.time
    #: The host app's hook, run on every request's body before it is routed.
    pre_request: PreRequestHook | None = None


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
        clock = given.clock
        keys = Keyspace(config.state.prefix)
        backend, http_transport = connections.backend, connections.http
        litellm = connections.litellm(config, given.protocols)
        upstream = UpstreamTransport(http_transport, config.server, litellm=litellm)
        responses_protocol = given.protocols.get("openai_responses")
        pool = CredentialPool(config, backend, keys, clock=clock)
        store = ResponseStore(backend, keys, config.responses)
        field_cache = FieldCache(
            backend, keys, rules_by_provider={name: p.field_cache for name, p in config.providers.items()}
        )
        accounting = Accounting(config, backend, keys, clock=clock)
        tracer = TraceWriter(config.trace, _secrets(config))
        recent = RecentRequests(backend, keys, config.recent_requests, config.scopes)
        self._observer = RequestObserver(
            Telemetry(config.otel, tracer.redactor),
            RequestLog(config.logging, tracer.redactor),
            recent.add,
            clock=clock,
        )
        self._auth = ClientAuth(config.auth)
        self._protocols = given.protocols
        self._max_body = config.server.max_body_bytes
        self._hook = given.pre_request
        self._prometheus = accounting.prometheus

        planner = Planner(config, given.protocols)
        token_endpoint = TokenEndpoint(http_transport, clock=clock)
        oauth = OAuthCredentials(config, backend, keys, token_endpoint, on_secret=tracer.redactor.add, clock=clock)
        executor = Executor(config, pool, upstream, field_cache, given.adapters, clock=clock, oauth=oauth)
        generation = Generation(
            planner,
            SessionTracker(config, keys),
            ResponsesService(store, config.responses, responses_protocol),
            executor,
            accounting,
            pool,
            backend,
            heartbeat_interval=config.streaming.heartbeat_interval,
            protocols=given.protocols,
        )
        admission = Admission(planner, accounting)
        embedding_calls = EmbeddingCalls(executor, upstream)
        batching = config.embeddings
        embeddings = Embeddings(
            admission,
            EmbeddingBatcher(embedding_calls, max_items=batching.max_items, max_wait=batching.max_wait)
            if batching.batching
            else embedding_calls,
            generation.account,
        )
        passthrough = Passthrough(admission, PassthroughCalls(executor, upstream), generation.account)
        stored = StoredResponses(store)
        discovery = ModelDiscovery(
            config,
            pool,
            upstream,
            {name: given.protocols.get(p.protocol) for name, p in config.providers.items()},
            backend,
            keys,
            clock=clock,
        )
        listing = ModelListing(config, discovery)
        admin = Introspection(
            providers=list(config.providers),
            state_backend=config.state.backend,
            open_auth=self._auth.open,
            pool=pool,
            oauth=oauth,
            ledger=accounting.ledger,
            prometheus=accounting.prometheus,
            tracer=tracer,
            recent=recent,
        )
        runtime = RuntimeConfigRoutes(given.runtime)
        #: The route table: each route's endpoint name to the callable that serves it.
        self._endpoints: dict[str, Endpoint] = {
            "generate": generation.generate,
            "count_tokens": generation.count_tokens,
            "embeddings": embeddings.openai,
            "embed_content": embeddings.gemini_single,
            "batch_embed_contents": embeddings.gemini_batch,
            "passthrough": passthrough.forward,
            "response_get": stored.retrieve,
            "response_delete": stored.delete,
            "response_input_items": stored.input_items,
            "models": listing.list_models,
            "model": listing.retrieve,
            "root": _empty,
            "health": admin.health,
            "credentials": admin.credentials,
            "usage": admin.usage,
            "metrics": admin.metrics,
            "trace": admin.trace,
            "requests": admin.requests,
            "dashboard": dashboard_page,
            "config_show": runtime.show,
            "config_reset": runtime.reset,
            "config_provider_put": runtime.put_provider,
            "config_provider_delete": runtime.remove_provider,
            "config_credential_add": runtime.add_credential,
            "config_credential_delete": runtime.remove_credential,
            "config_scope_put": runtime.put_scope,
            "config_scope_delete": runtime.remove_scope,
        }
        self._websocket = ResponsesWebSocket(self._auth, generation, responses_protocol, tracer, hook=given.pre_request)
        self._closers: list[Callable[[], Awaitable[None]]] = [
            discovery.aclose,
            pool.aclose,
            self._observer.flush,
            recent.flush,
        ]
        self._in_flight = 0
        self._retired = False
        #: Request ids in and out, and the client-side trace passes around an observed dispatch.
        self._traced = TracingMiddleware(self._observed, writer=tracer)

    async def aclose(self) -> None:
        """Stop background discovery, close the pool's lease renewer and finish writing request summaries
        (the connections stay open for the app's other gateways)."""
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


async def _empty(request: Request, send: Send) -> None:
    """The mount root: 200 with no data, for clients that probe the base URL before using it."""
    await send_bytes(send, 200, b"", [])


def _secrets(config: RotatorConfig) -> list[str]:
    """Every configured credential, client key and client secret: traces must never contain any of them (OAuth
    tokens are added as they are read and renewed)."""
    keys = [c.key for p in config.providers.values() for c in p.credentials]
    keys += [c.key for s in config.scopes.values() for p in s.providers.values() for c in p.credentials]
    keys += [k.key for k in (*config.auth.api_keys, *config.auth.admin_keys)]
    keys += [p.client_secret for p in config.providers.values()]
    keys += [config.state.fingerprint_key, config.state.encryption_key]
    return [k.get_secret_value() for k in keys if k is not None]
