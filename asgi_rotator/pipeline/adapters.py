"""Payload adapters: small, named fixes for providers that deviate from their protocol.

They run per provider (optionally per model), in configured order: request adapters on the native request
after the provider protocol built it, response adapters on the raw upstream body before it is parsed, and
stream adapters on canonical stream events. Built-ins cover the common quirks; a custom adapter is a
:class:`PayloadAdapter` subclass registered by name with :func:`register_adapter`.

    adapters:
      - drop_params: ...                      # the short form takes no config
      - {name: suppress_developer_role, config: {mode: system}}
      - {name: model_override, config: {model: gpt-4.1-2025-04-14}, models: [gpt-4.1]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ConfigError
from ..protocols.base import NativeRequest
from ..protocols.unified import StreamEvent


@dataclass(slots=True)
class AdapterContext:
    """Where an adapter runs: the provider, upstream model, provider protocol and the adapter's own config."""

    provider: str
    model: str
    protocol: str
    config: dict[str, Any] = field(default_factory=dict)


class PayloadAdapter:
    """Base class: override the stages the adapter acts on; the defaults pass everything through."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        """Change the native request in place."""

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Return the (possibly changed) raw upstream body."""
        return body

    def transform_stream_event(self, event: StreamEvent, ctx: AdapterContext) -> StreamEvent | None:
        """Return the event to pass on, or None to drop it."""
        return event


_REGISTRY: dict[str, type[PayloadAdapter]] = {}


def register_adapter(adapter: type[PayloadAdapter], *, replace: bool = False) -> type[PayloadAdapter]:
    """Register an adapter class under its name and aliases (usable as a decorator).

    Raises:
        ValueError: a name or alias is taken by another class (unless ``replace``).
    """
    for key in (adapter.name, *adapter.aliases):
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not adapter and not replace:
            raise ValueError(f"Adapter name {key!r} is already registered by {existing.__name__}")
    for key in (adapter.name, *adapter.aliases):
        _REGISTRY[key] = adapter
    return adapter


def _path(body: dict[str, Any], dotted: str, create: bool = False) -> tuple[dict[str, Any] | None, str]:
    """The container holding the last segment of ``dotted`` (``a.b.c``), and that segment."""
    *parents, leaf = dotted.split(".")
    node: Any = body
    for part in parents:
        if not isinstance(node, dict):
            return None, leaf
        if part not in node and create:
            node[part] = {}
        node = node.get(part)
    return (node if isinstance(node, dict) else None), leaf


@register_adapter
class ModelOverride(PayloadAdapter):
    """``{model}``: send another upstream model name than the one routed to."""

    name = "model_override"

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        if "model" in native.body and ctx.config.get("model"):
            native.body["model"] = ctx.config["model"]


@register_adapter
class SuppressDeveloperRole(PayloadAdapter):
    """``{mode: system | user | drop}``: for upstreams that reject the ``developer`` role."""

    name = "suppress_developer_role"

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        mode = ctx.config.get("mode", "system")
        for key in ("messages", "input"):
            items = native.body.get(key)
            if not isinstance(items, list):
                continue
            kept = []
            for item in items:
                if isinstance(item, dict) and item.get("role") == "developer":
                    if mode == "drop":
                        continue
                    item = {**item, "role": mode}
                kept.append(item)
            native.body[key] = kept


@register_adapter
class ReasoningContent(PayloadAdapter):
    """``{output_field, source_fields}``: copy a provider's reasoning field (``reasoning``, ``thinking``) into
    ``reasoning_content`` on Chat messages, so the protocol finds it; it copies and never deletes."""

    name = "reasoning_content"
    aliases = ("reasoning_rewrite",)

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        target = ctx.config.get("output_field", "reasoning_content")
        sources = ctx.config.get("source_fields", ["reasoning", "reasoning_text", "thinking"])
        for choice in body.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and not message.get(target):
                found = next((message[s] for s in sources if isinstance(message.get(s), str) and message[s]), None)
                if found is not None:
                    message[target] = found
        return body


@register_adapter
class FieldRename(PayloadAdapter):
    """``{rules: [{source_path, target_path, stage, move, when_missing_only}]}`` on dotted body paths."""

    name = "field_rename"
    aliases = ("field_copy",)

    def _apply(self, body: dict[str, Any], stage: str, ctx: AdapterContext) -> None:
        for rule in ctx.config.get("rules", []):
            if rule.get("stage", "request") != stage:
                continue
            source, key = _path(body, rule["source_path"])
            if source is None or key not in source:
                continue
            target, target_key = _path(body, rule["target_path"], create=True)
            if target is None or (rule.get("when_missing_only") and target_key in target):
                continue
            target[target_key] = source.pop(key) if rule.get("move") else source[key]

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        self._apply(native.body, "request", ctx)

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        self._apply(body, "response", ctx)
        return body


@register_adapter
class DropParams(PayloadAdapter):
    """``{params: [...]}``: remove request fields (dotted paths) a provider rejects."""

    name = "drop_params"

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        for dotted in ctx.config.get("params", []):
            container, key = _path(native.body, dotted)
            if container is not None:
                container.pop(key, None)


@register_adapter
class SetHeaders(PayloadAdapter):
    """``{headers: {name: value}}``: extra headers on the upstream request."""

    name = "set_headers"

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        native.headers.update({k.lower(): str(v) for k, v in ctx.config.get("headers", {}).items()})


@dataclass(slots=True)
class AdapterChain:
    """The adapters of one provider and model, in order, each with its context."""

    steps: list[tuple[PayloadAdapter, AdapterContext]] = field(default_factory=list)

    def request(self, native: NativeRequest) -> None:
        """Run the request stage."""
        for adapter, ctx in self.steps:
            adapter.transform_request(native, ctx)

    def response(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run the response stage on a raw upstream body."""
        for adapter, ctx in self.steps:
            body = adapter.transform_response(body, ctx)
        return body

    def stream_event(self, event: StreamEvent) -> StreamEvent | None:
        """Run the stream stage on one canonical event."""
        current: StreamEvent | None = event
        for adapter, ctx in self.steps:
            if current is None:
                return None
            current = adapter.transform_stream_event(current, ctx)
        return current


def chain_for(entries: list[Any], *, provider: str, model: str, protocol: str) -> AdapterChain:
    """The chain configured for ``provider`` (its ``adapters`` list), restricted to ``model``.

    Raises:
        ConfigError: an adapter name nobody registered.
    """
    chain = AdapterChain()
    for i, entry in enumerate(entries):
        spec: dict[str, Any] = {"name": entry} if isinstance(entry, str) else dict(entry)
        cls = _REGISTRY.get(spec.get("name", ""))
        if cls is None:
            known = ", ".join(sorted(_REGISTRY))
            raise ConfigError(
                f"providers.{provider}.adapters[{i}]: unknown adapter {spec.get('name')!r}; known: {known}"
            )
        models = spec.get("models")
        if models and model not in models:
            continue
        chain.steps.append((cls(), AdapterContext(provider, model, protocol, dict(spec.get("config") or {}))))
    return chain


def validate_adapters(providers: dict[str, Any]) -> None:
    """Check every configured adapter name at construction (custom adapters register at import time).

    Raises:
        ConfigError: an unknown adapter name, naming the field.
    """
    for name, provider in providers.items():
        chain_for(provider.adapters, provider=name, model="", protocol=provider.protocol)
