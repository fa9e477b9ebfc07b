"""Declarative field-cache rules: remember a field of one exchange and put it into the next request.

A rule extracts values from the native ``request`` sent upstream, the raw ``response`` body, or the raw
``stream_event`` payloads, and injects them into the next native ``request`` (or the request's
``metadata``). Values are stored in the state backend under a hash of the rule and its scope (provider,
model, credential, session, conversation), so replicas share them and raw values never appear in keys.
Nothing is cached until an exchange succeeded; a stream's values only once it completed.

Rules fail closed: a rule scoped by credential with no credential, or by session with no session (unless
``allow_missing_session``), does nothing. The provider reasoning state of DESIGN.md section 5 is kept by the
built-in rules of :mod:`.provider_state`; these are for everything else a provider needs echoed back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .. import _json
from ..config.models import FieldCacheRule, RotatorConfig
from ..errors import ConfigError
from ..state.base import StateBackend, WriteOp
from .paths import Path


@dataclass(slots=True)
class CacheContext:
    """Whose exchange this is: the scope components a rule may key on."""

    provider: str
    model: str
    credential: str | None
    session: str | None
    conversation: str | None = None
    request_body: dict[str, Any] = field(default_factory=dict)


class FieldCache:
    """Runs the rules of every provider. Costs one dictionary lookup for a provider without rules."""

    def __init__(self, backend: StateBackend, rules: dict[str, list[FieldCacheRule]], *, prefix: str) -> None:
        self._backend = backend
        self._rules = {p: [r for r in rs if r.enabled] for p, rs in rules.items() if any(r.enabled for r in rs)}
        self._prefix = f"{prefix}fc:"

    def rules(self, provider: str) -> list[FieldCacheRule]:
        """The enabled rules of ``provider``."""
        return self._rules.get(provider, [])

    def _key(self, rule: FieldCacheRule, ctx: CacheContext) -> str | None:
        values: list[str] = []
        for part in rule.scope:
            value = {
                "provider": ctx.provider,
                "model": ctx.model,
                "credential": ctx.credential,
                "session": ctx.session,
                "conversation": ctx.conversation or ctx.session,
            }[part]
            if value is None:
                if part in ("session", "conversation") and rule.allow_missing_session:
                    value = "-"
                else:
                    return None  # fail closed: never a shared bucket for a missing scope
            values.append(f"{part}={value}")
        return self._prefix + hashlib.sha256("\x1f".join([rule.name, *values]).encode()).hexdigest()

    async def inject(self, ctx: CacheContext, body: dict[str, Any], metadata: dict[str, Any]) -> int:
        """Put stored values into the native request ``body`` (or ``metadata``); returns how many changed."""
        rules = self.rules(ctx.provider)
        keyed = [(rule, key) for rule in rules if (key := self._key(rule, ctx)) is not None]
        if not keyed:
            return 0
        stored = await self._backend.get_many([key for _, key in keyed])
        changed = 0
        for (rule, _), raw in zip(keyed, stored, strict=True):
            if raw is None:
                continue
            value = _json.loads(raw)
            target = body if rule.inject.target == "request" else metadata
            if rule.mode == "per_tool_call":
                changed += _inject_per_call(rule, target, value)
            elif value:
                payload = value if rule.inject.as_list else value[-1]
                changed += Path(rule.inject.path).inject(
                    target, payload, when_missing_only=rule.inject.when_missing_only
                )
        return changed

    async def extract(
        self,
        ctx: CacheContext,
        response: dict[str, Any] | None = None,
        stream_events: list[dict[str, Any]] | None = None,
    ) -> None:
        """After a successful exchange: store what the rules extract from its request, response or stream."""
        writes: list[WriteOp] = []
        for rule in self.rules(ctx.provider):
            key = self._key(rule, ctx)
            if key is None:
                continue
            documents = {
                "request": [ctx.request_body],
                "response": [response] if response is not None else [],
                "stream_event": stream_events or [],
            }[rule.source]
            value = _extract(rule, [d for d in documents if d is not None])
            if value is None:
                continue
            if rule.mode == "all":
                previous = await self._backend.get(key)
                value = (_json.loads(previous) if previous else []) + value
            if isinstance(value, list):
                value = value[-rule.max_values :]
            encoded = _json.dumps(value)
            if len(encoded) <= rule.max_bytes:
                writes.append(("set", key, encoded, rule.ttl_seconds))
        if writes:
            await self._backend.write_many(writes)


def _items(path: Path, documents: list[dict[str, Any]]) -> list[Any]:
    """What ``path`` finds, with lists opened up: turn and tool-call modes work on a container's items."""
    items: list[Any] = []
    for found in (f for d in documents for f in path.extract(d)):
        items += found if isinstance(found, list) else [found]
    return items


def _extract(rule: FieldCacheRule, documents: list[dict[str, Any]]) -> Any:
    path = Path(rule.path)
    if rule.mode == "per_tool_call":
        found: dict[str, Any] = {}
        for item in _items(path, documents):
            ids = Path(rule.tool_call_id_path).extract(item)
            values = Path(rule.tool_value_path).extract(item) if rule.tool_value_path else [item]
            if ids and values and isinstance(ids[0], str):
                found[ids[0]] = values[0]
        return found or None
    if rule.mode in ("last_user_turn", "last_assistant_turn"):
        role = "user" if rule.mode == "last_user_turn" else "assistant"
        turns = [t for t in _items(path, documents) if Path(rule.turn_role_path).extract(t) == [role]]
        if not turns:
            return None  # no such turn: skip, never fall back to "last"
        return Path(rule.turn_value_path).extract(turns[-1])[:1] or None
    values = [v for d in documents for v in path.extract(d)]
    if not values:
        return None
    return values[-1:] if rule.mode == "last" else values


def _inject_per_call(rule: FieldCacheRule, target: dict[str, Any], by_id: dict[str, Any]) -> int:
    container = Path(rule.inject.container_path or rule.path)
    changed = 0
    for item in container.extract(target):
        ids = Path(rule.inject.tool_call_id_path).extract(item) if isinstance(item, dict) else []
        if ids and isinstance(ids[0], str) and ids[0] in by_id:
            changed += Path(rule.inject.path).inject(
                item, by_id[ids[0]], when_missing_only=rule.inject.when_missing_only
            )
    return changed


def validate_rules(config: RotatorConfig) -> None:
    """Compile every rule's paths at construction, so a malformed one fails with the field named.

    Raises:
        ConfigError: a malformed path.
    """
    for provider, settings in config.providers.items():
        for i, rule in enumerate(settings.field_cache):
            for path in filter(
                None,
                (
                    rule.path,
                    rule.inject.path,
                    rule.inject.container_path,
                    rule.tool_value_path,
                    rule.tool_call_id_path,
                    rule.turn_role_path,
                    rule.turn_value_path,
                ),
            ):
                try:
                    Path(path)
                except ConfigError as exc:
                    raise ConfigError(f"providers.{provider}.field_cache[{i}]: {exc}") from None
