"""The field cache: remember fields of one exchange and put them into the next request, per provider.

Rules (:mod:`.rules`) come from a provider's ``field_cache`` config, after the built-in provider-state rules
(:mod:`.provider_state`) a config rule of the same name replaces. Per attempt, the executor calls, in order:

1. :meth:`FieldCache.inject_unified` before the provider protocol builds the native request (targets
   ``unified_request`` and ``metadata``); use the request it returns, the caller's stays untouched;
2. :meth:`FieldCache.inject_raw` on the native body after the request adapters (target ``request``);
3. after a success, :meth:`FieldCache.extract_response`, or for a stream a :meth:`FieldCache.stream_collector`
   fed every event and completed on the stream's success terminal. An abandoned collector stores nothing.

Values live in the state backend, so every replica shares them, under a SHA-256 of the rule's identity, the
client's scope and each scope component (raw values never appear in keys), with the rule's TTL and size bounds.
Rules fail closed: a rule scoped by credential with no credential, or by session (conversation) with none and
without ``allow_missing_session``, does nothing; there is no shared fallback bucket. When the gateway expanded a
Responses history itself, rules that inject a provider continuation id stand down. A provider without rules pays
one dictionary lookup per call.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .. import _json
from ..config.models import FieldCacheRule
from ..errors import BackendError, ConfigError
from ..protocols.unified import UnifiedRequest, UnifiedResponse
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace
from .context import ActiveRules, CacheContext, StreamCollector, from_requests
from .provider_state import BUILTIN_RULES, REQUIRED_SCOPE
from .rules import Extraction, Found, RuleRunner, compile_rule

logger = logging.getLogger("asgi_rotator")

if TYPE_CHECKING:
    from ..config.models import RotatorConfig

_SCOPE_ATTRS = {
    "provider": "provider",
    "model": "model",
    "credential": "credential_id",
    "session": "session_id",
    "conversation": "conversation_id",
}


class FieldCache:
    """Runs every provider's field-cache rules against a state backend."""

    def __init__(
        self,
        backend: StateBackend,
        keys: Keyspace,
        *,
        rules_by_provider: Mapping[str, Sequence[FieldCacheRule]],
        builtin_rules: Sequence[FieldCacheRule] = BUILTIN_RULES,
    ) -> None:
        """Compile every rule.

        Raises:
            ConfigError: a malformed rule, naming it.
        """
        self._backend = backend
        self._keys = keys
        self._builtin = [compile_rule(rule) for rule in builtin_rules if rule.enabled]
        builtin_names = {rule.name for rule in builtin_rules}
        self._configured = {p: _compile(p, rules, builtin_names) for p, rules in rules_by_provider.items() if rules}
        self._active_by: dict[tuple[str, str, str], ActiveRules] = {}

    def rule_names(self, ctx: CacheContext) -> tuple[str, ...]:
        """The rules that run for ``ctx``'s provider and client, in order (for the trace)."""
        return self._active(ctx).names

    async def inject_unified(self, ctx: CacheContext, request: UnifiedRequest) -> UnifiedRequest:
        """Inject into the unified request (targets ``unified_request`` and ``metadata``); returns the request to
        build from: ``request`` itself when nothing changed, else a copy."""
        active = self._active(ctx)
        if not active.names:
            return request
        ctx.local_lineage = request.history_expanded
        if active.unified_inject:
            request, _ = await self._inject(ctx, active.unified_inject, request, "inject_unified")
        ctx.unified_request = request
        return request

    async def inject_raw(self, ctx: CacheContext, body: dict[str, Any]) -> int:
        """Inject into the native request body in place (target ``request``); returns how many values went in."""
        active = self._active(ctx)
        if not active.names:
            return 0
        ctx.request_body = body
        if not active.raw_inject:
            return 0
        _, changed = await self._inject(ctx, active.raw_inject, body, "inject_raw")
        return changed

    async def extract_response(self, ctx: CacheContext, raw_body: dict[str, Any], response: UnifiedResponse) -> int:
        """After a successful non-streamed exchange: store what the rules extract; returns how many values."""
        active = self._active(ctx)
        if not (active.response or active.request):
            return 0
        found = [
            (r, r.extract(raw_body if "response" in r.sources else response, request_side=False))
            for r in active.response
        ]
        return await self._store(ctx, [*found, *from_requests(ctx, active.request)])

    def stream_collector(self, ctx: CacheContext) -> StreamCollector:
        """A collector for one streamed attempt; it stores only when :meth:`StreamCollector.complete` is awaited."""
        active = self._active(ctx)
        return StreamCollector(self._store, ctx, active)

    def _active(self, ctx: CacheContext) -> ActiveRules:
        key = (ctx.provider, ctx.protocol.name, ctx.client_protocol.name)
        active = self._active_by.get(key)
        if active is None:
            configured = self._configured.get(ctx.provider, [])
            replaced = {runner.rule.name for runner in configured}
            runners = [r for r in self._builtin if r.rule.name not in replaced]
            runners += [r for r in configured if r.rule.enabled]
            active = ActiveRules.of([r for r in runners if r.applies(ctx.protocol, ctx.client_protocol)])
            self._active_by[key] = active
        return active

    def _base(self, runner: RuleRunner, ctx: CacheContext) -> tuple[str | None, str]:
        """The rule's storage identity in ``ctx``, or None and why (a missing scope component fails closed)."""
        rule = runner.rule
        parts = [runner.identity, f"scope={ctx.scope or ''}"]
        for component in rule.scope:
            value = getattr(ctx, _SCOPE_ATTRS[component])
            if not value:
                if component not in ("session", "conversation") or not rule.allow_missing_session:
                    return None, f"missing_{component}"
                value = "\0none"
            parts.append(f"{component}={value}")
        return "\x1f".join(parts), ""

    def _key(self, base: str, call_id: str | None = None) -> str:
        text = base if call_id is None else f"{base}\x1fid={call_id}"
        return self._keys.field_cache(hashlib.sha256(text.encode()).hexdigest())

    async def _inject(
        self, ctx: CacheContext, runners: Iterable[RuleRunner], target: Any, stage: str
    ) -> tuple[Any, int]:
        planned: list[tuple[RuleRunner, list[str], list[str]]] = []  # rule, keys, tool-call ids of the keys
        for runner in runners:
            base, reason = self._base(runner, ctx)
            if runner.continuation and ctx.local_lineage:
                base, reason = None, "local_lineage"
            if base is None:
                ctx.note(runner, stage, reason)
            elif runner.rule.mode == "per_tool_call":
                ids = runner.wanted_ids(target)[-runner.rule.max_values :]
                if ids:
                    planned.append((runner, [self._key(base, i) for i in ids], ids))
            else:
                planned.append((runner, [self._key(base)], []))
        if not planned:
            return target, 0
        fetch = [key for runner, keys, _ in planned if runner.rule.mode != "all" for key in keys]
        fetched = iter(await self._backend.get_many(fetch) if fetch else ())
        copied: set[str] = set()
        total = 0
        for runner, keys, ids in planned:
            rule = runner.rule
            stored: Any
            if rule.mode == "all":
                stored = _bounded(await self._backend.list(keys[0]), rule.max_bytes) or None
            elif ids:
                raws = [next(fetched) for _ in keys]
                stored = {i: _json.loads(raw) for i, raw in zip(ids, raws, strict=True) if raw is not None} or None
            else:
                raw = next(fetched)
                stored = _json.loads(raw) if raw is not None else None
            if stored is None:
                continue
            root = target
            if stage == "inject_unified":
                target, root = _writable(runner, target, copied)
            result, changed = runner.inject(root, stored)
            if runner.copies_itself:
                target = result
            ctx.note(runner, stage, changed)
            total += changed if isinstance(changed, int) else 0
        return target, total

    async def _store(self, ctx: CacheContext, found: Iterable[tuple[RuleRunner, Extraction]]) -> int:
        writes: list[WriteOp] = []
        appends: list[tuple[str, bytes, int, float]] = []
        stored = 0
        for runner, extraction in found:
            if extraction is None or isinstance(extraction, str):
                if extraction:
                    ctx.note(runner, "extract", extraction)
                continue
            base, reason = self._base(runner, ctx)
            if base is None:
                ctx.note(runner, "extract", reason)
                continue
            rule, count, too_large = runner.rule, 0, False
            for call_id, value in _entries(extraction):
                encoded = _encode(value)
                if encoded is None or len(encoded) > rule.max_bytes:
                    too_large = True
                elif extraction.kind == "values":
                    appends.append((self._key(base), encoded, rule.max_values, rule.ttl_seconds))
                    count += 1
                else:
                    writes.append(("set", self._key(base, call_id), encoded, rule.ttl_seconds))
                    count += 1
            ctx.note(runner, "extract", count if count or not too_large else "too_large")
            stored += count
        try:
            if writes:
                await self._backend.write_many(writes)
            for key, value, max_len, ttl in appends:
                await self._backend.append(key, value, max_len, ttl)
        except BackendError as exc:
            # The answer was served: losing what the next turn would reuse must not turn it into an error.
            logger.error("asgi_rotator: field-cache values not stored: %s", exc)
            return 0
        return stored


def validate_rules(config: RotatorConfig) -> None:
    """Compile every provider's rules at construction, so a bad one fails naming its field.

    Raises:
        ConfigError: a malformed path, a continuation injection without ``provider_continuation``, or a
            replacement of a built-in rule that weakens its scope.
    """
    builtin_names = {rule.name for rule in BUILTIN_RULES}
    for provider, settings in config.providers.items():
        _compile(provider, settings.field_cache, builtin_names)


def _compile(provider: str, rules: Sequence[FieldCacheRule], builtin_names: set[str]) -> list[RuleRunner]:
    runners = []
    for i, rule in enumerate(rules):
        where = f"providers.{provider}.field_cache[{i}] ({rule.name})"
        if rule.name in builtin_names and rule.enabled and not REQUIRED_SCOPE <= set(rule.scope):
            raise ConfigError(f"{where}: replaces a built-in rule, so its scope must keep {sorted(REQUIRED_SCOPE)}")
        try:
            runners.append(compile_rule(rule))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return runners


def _entries(found: Found) -> list[tuple[str | None, Any]]:
    if found.kind == "by_id":
        return list(found.value.items())
    if found.kind == "values":
        return [(None, value) for value in found.value]
    return [(None, found.value)]


def _encode(value: Any) -> bytes | None:
    try:
        return _json.dumps(value)
    except TypeError:
        return None  # not JSON (an exception object in a stream event, say): nothing to keep


def _bounded(raws: list[bytes], max_bytes: int) -> list[Any]:
    """The newest values whose total size fits ``max_bytes``, oldest first."""
    kept: list[Any] = []
    total = 0
    for raw in reversed(raws):
        total += len(raw)
        if total > max_bytes:
            break
        kept.append(_json.loads(raw))
    return kept[::-1]


def _writable(runner: RuleRunner, request: UnifiedRequest, copied: set[str]) -> tuple[UnifiedRequest, Any]:
    """The request (copied once before the first in-place change) and the root the runner injects into."""
    if runner.copies_itself:
        return request, request
    if runner.rule.inject.target == "metadata":
        if "metadata" not in copied:
            request = replace(request, metadata=copy.deepcopy(request.metadata) or {})
            copied.add("metadata")
        return request, request.metadata
    if "request" not in copied:
        request = copy.deepcopy(request)
        copied.update(("request", "metadata"))
    return request, request
