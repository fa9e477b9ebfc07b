"""One attempt's pass through the pipeline: the request a provider gets, and what its answer leaves behind.

On the way out, in order: field-cache injection into the unified request, the provider protocol's build, the
request adapters, field-cache injection into the native body, and the HTTP request carrying the credential. On
the way back: the response adapters, the provider protocol's parse and field-cache extraction. A stream is
adapted event by event, and its field-cache values are stored only when it reaches its success terminal.

The field cache's trace passes record which rules ran and what they did, never the values they moved.
"""

from __future__ import annotations

from typing import Any

import httpx
from cachetools import LRUCache

from ..credentials.pool import Lease
from ..pipeline import AdapterChain, AdapterContext, AdapterRegistry, CacheContext, FieldCache
from ..planner import Target
from ..protocols.unified import UnifiedResponse
from . import decisions
from .call import AttemptContext, Call
from .stream_reader import StreamReader
from .transport import UpstreamTransport

#: Adapter chains kept per provider/model; client-chosen model names must not grow it without bound.
_CHAIN_CACHE_SIZE = 1024


class AttemptPipeline:
    """Builds each attempt's upstream request and reads its answer, through adapters and the field cache."""

    def __init__(
        self,
        transport: UpstreamTransport,
        field_cache: FieldCache,
        adapters: AdapterRegistry,
        *,
        max_event_bytes: int,
    ) -> None:
        self._transport = transport
        self._field_cache = field_cache
        self._adapters = adapters
        self._max_event_bytes = max_event_bytes
        # Adapter chains per provider/model come from the config alone, so a per-process cache is right.
        self._chains: LRUCache[str, AdapterChain] = LRUCache(_CHAIN_CACHE_SIZE)

    async def request(
        self, call: Call, target: Target, lease: Lease, budget: float
    ) -> tuple[httpx.Request, AttemptContext]:
        """The HTTP request for one attempt of ``call`` (built per attempt: it carries the credential and its
        scoped field-cache values), and the context its answer is read with."""
        request, session, scope, trace = call.request, call.session, call.scope, call.trace
        credential = lease.credential
        cache_ctx = CacheContext(
            target.provider,
            target.model,
            target.protocol,
            call.protocol,
            credential.id,
            session,
            request.conversation or session,
            scope,
        )
        chain = self.chain(target)
        adapter_ctx = _adapter_context(call, target, lease)
        attempt = AttemptContext(target, chain, adapter_ctx, cache_ctx, trace, self._field_cache.rule_names(cache_ctx))

        request = await self._field_cache.inject_unified(cache_ctx, request)
        attempt.record_cache("after_field_cache_injection", "inject_unified")
        known_warnings = len(request.warnings)
        native = target.protocol.build_request(request, target.model)
        decisions.conversion_warnings(trace, target, request.warnings[known_warnings:])
        if chain.has_request:
            native = chain.request(native, adapter_ctx)
        if trace is not None:
            trace.record("after_request_adapters", native.body, component="provider", adapters=list(chain.names))
        await self._field_cache.inject_raw(cache_ctx, native.body)
        if any(entry["stage"] == "inject_raw" for entry in cache_ctx.report):
            attempt.record_cache("after_field_cache_injection", "inject_raw")

        http_request = self._transport.build(target, credential, native, call.client_headers, timeout=budget)
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
        return http_request, attempt

    def count_tokens_request(self, call: Call, target: Target, lease: Lease, budget: float) -> httpx.Request:
        """The HTTP request of a token count; the provider's request adapters run on it too (Code Assist wraps
        it in its envelope)."""
        native = target.protocol.build_count_tokens(call.request, target.model)
        assert native is not None  # the executor estimates locally when the protocol cannot count
        chain = self.chain(target)
        if chain.has_request:
            native = chain.request(native, _adapter_context(call, target, lease))
        return self._transport.build(
            target,
            lease.credential,
            native,
            call.client_headers,
            timeout=budget,
        )

    async def response(self, attempt: AttemptContext, body: dict[str, Any]) -> UnifiedResponse:
        """Read a non-streamed answer's JSON body, keeping what the field-cache rules extract from it."""
        if attempt.chain.has_response:
            body = attempt.chain.response(body, attempt.adapter_ctx)
            if attempt.trace is not None:
                attempt.trace.record("after_response_adapters", body, direction="response", component="provider")
        response = attempt.target.protocol.parse_response(body)
        response.raw = body
        if attempt.trace is not None:
            attempt.trace.record("parsed_unified_response", response, direction="response", component="provider")
        await self._field_cache.extract_response(attempt.cache_ctx, body, response)
        attempt.record_cache("after_field_cache_extraction", "extract")
        return response

    def stream_reader(self, attempt: AttemptContext) -> StreamReader:
        """The reader of one streamed attempt, with a collector for its field-cache values."""
        collector = self._field_cache.stream_collector(attempt.cache_ctx)
        return StreamReader(attempt, collector, max_event_bytes=self._max_event_bytes)

    def chain(self, target: Target) -> AdapterChain:
        """The adapter chain of ``target``'s provider for its model."""
        chain = self._chains.get(target.name)
        if chain is None:
            chain = AdapterChain.for_provider(
                target.config.adapters, target.model, self._adapters, provider=target.provider
            )
            self._chains[target.name] = chain
        return chain


def _adapter_context(call: Call, target: Target, lease: Lease) -> AdapterContext:
    credential = lease.credential
    return AdapterContext(
        target.provider,
        target.model,
        target.protocol.name,
        credential.masked,
        call.session,
        call.scope,
        credential_fields=credential.fields,
        trace=call.trace,
    )
