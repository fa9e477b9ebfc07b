"""The composition root: every service of one configuration, built once, each endpoint handed exactly the
collaborators it uses (no endpoint knows the gateway)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .config.models import RotatorConfig
from .credentials.pool import CredentialPool
from .endpoints.admin import Introspection, dashboard_page
from .endpoints.base import Endpoint, Request
from .endpoints.embeddings import Admission, Embeddings
from .endpoints.generation import Generation
from .endpoints.models import ModelListing
from .endpoints.passthrough import Passthrough
from .endpoints.responses_ws import ResponsesWebSocket
from .endpoints.runtime_config import RuntimeConfigRoutes
from .endpoints.stored_responses import StoredResponses
from .hooks import PreRequestHook
from .http.asgi import send_bytes
from .http.auth import ClientAuth
from .pipeline import AdapterRegistry, FieldCache
from .planner import Planner
from .protocols.registry import ProtocolRegistry
from .responses_api.service import ResponsesService
from .responses_api.store import ResponseStore
from .runtime import RuntimeConfig
from .sessions import SessionTracker
from .state.keys import Keyspace
from .tracing import TraceWriter
from .tracing.observation import RequestObserver
from .tracing.otel import Telemetry
from .tracing.request_log import RequestLog
from .types import Send
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
from .usage.prometheus import PrometheusMetrics
from .usage.recent import RecentRequests


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


@dataclass(frozen=True, slots=True)
class Services:
    """What a gateway dispatches to, built by :func:`compose`."""

    #: The route table: each route's endpoint name to the callable that serves it.
    endpoints: dict[str, Endpoint]
    websocket: ResponsesWebSocket
    auth: ClientAuth
    observer: RequestObserver
    tracer: TraceWriter
    prometheus: PrometheusMetrics
    #: What to close when the gateway retires (the shared connections are the app's to close).
    closers: list[Callable[[], Awaitable[None]]]


def compose(config: RotatorConfig, given: Collaborators, connections: Connections) -> Services:
    """Build every service of ``config`` on the app's shared ``connections``."""
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
    observer = RequestObserver(
        Telemetry(config.otel, tracer.redactor),
        RequestLog(config.logging, tracer.redactor),
        recent.add,
        clock=clock,
    )
    auth = ClientAuth(config.auth)

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
        open_auth=auth.open,
        pool=pool,
        oauth=oauth,
        ledger=accounting.ledger,
        prometheus=accounting.prometheus,
        tracer=tracer,
        recent=recent,
    )
    runtime = RuntimeConfigRoutes(given.runtime)
    endpoints: dict[str, Endpoint] = {
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
    websocket = ResponsesWebSocket(auth, generation, responses_protocol, tracer, hook=given.pre_request)
    closers: list[Callable[[], Awaitable[None]]] = [
        discovery.aclose,
        pool.aclose,
        recent.aclose,
        accounting.ledger.pending.aclose,
    ]
    return Services(endpoints, websocket, auth, observer, tracer, accounting.prometheus, closers)


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
