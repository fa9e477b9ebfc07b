"""One attempt's pass through the pipeline: the request a provider gets, and what its answer leaves behind.

On the way out, in order: field-cache injection into the unified request, the provider protocol's build, the
request adapters, field-cache injection into the native body, and the HTTP request carrying the credential. On
the way back: the response adapters, the provider protocol's parse and field-cache extraction. A stream is
adapted event by event, and its field-cache values are stored only when it reaches its success terminal.

The field cache's trace passes record which rules ran and what they did, never the values they moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..credentials.pool import Lease
from ..pipeline import AdapterChain, AdapterContext, CacheContext, FieldCache
from ..protocols.unified import UnifiedRequest, UnifiedResponse
from ..routing.planner import Target
from ..tracing.writer import RequestTrace
from .stream_reader import StreamReader
from .transport import UpstreamTransport


@dataclass(slots=True)
class Exchange:
    """What one attempt carries from its request to its answer."""

    target: Target
    chain: AdapterChain
    adapter_ctx: AdapterContext
    cache_ctx: CacheContext
    trace: RequestTrace | None
    #: The field-cache rules that run for this attempt (for the trace).
    rules: tuple[str, ...] = ()

    def record_cache(self, pass_name: str, stage: str) -> None:
        """A field-cache pass of the trace: the rules in play and each one's outcome at ``stage``."""
        if self.trace is None:
            return
        outcomes = [entry for entry in self.cache_ctx.report if entry["stage"] == stage]
        self.trace.record(
            pass_name, {"rules": list(self.rules), "outcomes": outcomes}, component="provider", stage=stage
        )


class AttemptPipeline:
    """Builds each attempt's upstream request and reads its answer, through adapters and the field cache."""

    def __init__(self, transport: UpstreamTransport, field_cache: FieldCache) -> None:
        self._transport = transport
        self._field_cache = field_cache
        # Adapter chains per provider/model come from the config alone, so a per-process cache is right.
        self._chains: dict[str, AdapterChain] = {}

    async def request(
        self,
        request: UnifiedRequest,
        target: Target,
        lease: Lease,
        *,
        session: str | None,
        scope: str | None,
        client_headers: Mapping[str, str],
        budget: float,
        trace: RequestTrace | None,
    ) -> tuple[httpx.Request, Exchange]:
        """The HTTP request for one attempt (built per attempt: it carries the credential and its scoped
        field-cache values), and the exchange its answer is read with."""
        credential = lease.credential
        cache_ctx = CacheContext(
            target.provider,
            target.model,
            target.protocol.name,
            request.source_protocol,
            credential.id,
            session,
            _conversation(request) or session,
            scope,
        )
        chain = self._chain(target)
        adapter_ctx = AdapterContext(
            target.provider, target.model, target.protocol.name, credential.masked, session, scope
        )
        exchange = Exchange(target, chain, adapter_ctx, cache_ctx, trace, self._field_cache.rule_names(cache_ctx))

        request = await self._field_cache.inject_unified(cache_ctx, request)
        exchange.record_cache("after_field_cache_injection", "inject_unified")
        native = target.protocol.build_request(request, target.model)
        if chain.has_request:
            native = chain.request(native, adapter_ctx)
        if trace is not None:
            trace.record("after_request_adapters", native.body, component="provider", adapters=list(chain.names))
        await self._field_cache.inject_raw(cache_ctx, native.body)
        if any(entry["stage"] == "inject_raw" for entry in cache_ctx.report):
            exchange.record_cache("after_field_cache_injection", "inject_raw")

        http_request = self._transport.build(
            target.config, target.protocol, credential, native, client_headers, timeout=budget
        )
        if trace is not None:
            trace.record(
                "provider_request",
                native.body,
                component="provider",
                provider=target.provider,
                model=target.model,
                credential=credential.masked,
                url=str(http_request.url),
            )
        return http_request, exchange

    async def response(self, exchange: Exchange, body: dict[str, Any]) -> UnifiedResponse:
        """Read a non-streamed answer's JSON body, keeping what the field-cache rules extract from it."""
        if exchange.chain.has_response:
            body = exchange.chain.response(body, exchange.adapter_ctx)
            if exchange.trace is not None:
                exchange.trace.record("after_response_adapters", body, direction="response", component="provider")
        response = exchange.target.protocol.parse_response(body)
        if exchange.trace is not None:
            exchange.trace.record("parsed_unified_response", response, direction="response", component="provider")
        await self._field_cache.extract_response(exchange.cache_ctx, body, response)
        exchange.record_cache("after_field_cache_extraction", "extract")
        return response

    def stream_reader(self, exchange: Exchange) -> StreamReader:
        """The reader of one streamed attempt, with a collector for its field-cache values."""
        return StreamReader(exchange, self._field_cache.stream_collector(exchange.cache_ctx))

    def _chain(self, target: Target) -> AdapterChain:
        chain = self._chains.get(target.name)
        if chain is None:
            chain = AdapterChain.for_provider(target.config.adapters, target.model, provider=target.provider)
            self._chains[target.name] = chain
        return chain


def _conversation(request: UnifiedRequest) -> str | None:
    """The conversation a Responses client names (``conversation``: an id or ``{"id": ...}``), if any."""
    if request.source_protocol != "openai_responses":
        return None
    named = request.raw.get("conversation")
    if isinstance(named, dict):
        named = named.get("id")
    return named if isinstance(named, str) and named else None
