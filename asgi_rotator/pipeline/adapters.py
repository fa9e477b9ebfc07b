"""Payload adapters: small, named fixes for providers that deviate from their protocol.

A provider's ``adapters`` list sets its chain, in order; an entry is a name or ``{name, config, models}``:

    adapters:
      - drop_params                            # a bare name takes the adapter's defaults
      - {name: suppress_developer_role, config: {mode: system}}
      - {name: model_override, config: {model: gpt-4.1-2025-04-14}, models: [gpt-4.1]}

Each adapter acts on some of five stages, in the order a request meets them:

    request          the native request the provider protocol built, before it is sent
    response         the provider's JSON answer, before the provider protocol parses it (provider quirks)
    stream_payload   each raw JSON payload of an upstream stream, before the provider protocol parses it
    stream_event     each canonical stream event, after parsing
    client_response  the JSON body the client receives, after the client protocol formatted it

A custom adapter subclasses :class:`PayloadAdapter` and is registered by name on the app's
:class:`AdapterRegistry` (``RotatorASGI(config, adapters=...)``; the built-ins come from
:func:`~asgi_rotator.pipeline.builtin_adapters`); names are checked against it at construction by
:func:`validate_adapters`, and nothing is instantiated from config but registered classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..config.models import AdapterConfig
from ..errors import ConfigError
from ..protocols.base import NativeRequest
from ..protocols.unified import StreamEvent
from ..tracing.writer import Component, Direction, RequestTrace

if TYPE_CHECKING:
    from ..config.models import RotatorConfig

Stage = Literal["request", "response", "stream_payload", "stream_event", "client_response"]
STAGES: tuple[Stage, ...] = ("request", "response", "stream_payload", "stream_event", "client_response")


@dataclass(slots=True)
class AdapterContext:
    """Where an adapter runs. The chain sets ``config`` to each adapter's own settings before calling it."""

    provider: str
    model: str
    protocol: str
    credential_id: str | None = None  # masked
    session_id: str | None = None
    scope: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    #: Non-secret fields of an OAuth credential (``account_id``, ``project_id``); never a token.
    credential_fields: Mapping[str, str] = field(default_factory=dict)
    #: The request's trace: the request, response and client-response stages record an ``after_adapter`` pass
    #: per adapter (stream stages do not: one pass per event and adapter would drown the trace).
    trace: RequestTrace | None = None


class PayloadAdapter:
    """Base class: declare ``name``, ``aliases`` and ``stages``, and override the stages' methods."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    stages: ClassVar[frozenset[Stage]] = frozenset()

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        """Check a configuration at construction; raise ``ValueError`` naming what is wrong."""

    @classmethod
    def active_stages(cls, config: Mapping[str, Any]) -> frozenset[Stage]:
        """The stages this adapter acts on with ``config`` (only those cost anything)."""
        return cls.stages

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> NativeRequest | None:
        """Change the native request in place (return None), or return a replacement."""
        return None

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Return the (possibly changed) body."""
        return body

    def transform_stream_payload(self, payload: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Return the (possibly changed) raw stream payload."""
        return payload

    def transform_stream_event(self, event: StreamEvent, ctx: AdapterContext) -> StreamEvent | None:
        """Return the event to pass on, or None to drop it."""
        return event

    def transform_client_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Return the (possibly changed) body the client receives."""
        return body


class AdapterRegistry:
    """Adapter classes by name and alias, one registry per app; the chain order comes from the config.

    Args:
        adapters: adapter classes to register at once.
    """

    def __init__(self, adapters: Iterable[type[PayloadAdapter]] = ()) -> None:
        self._by_name: dict[str, type[PayloadAdapter]] = {}
        for adapter in adapters:
            self.register(adapter)

    def register(self, adapter: type[PayloadAdapter], *, replace: bool = False) -> type[PayloadAdapter]:
        """Register an adapter class under its name and aliases; returns it, so it works as a decorator.

        Raises:
            ValueError: a name or alias is taken by another class (unless ``replace``), or the class has no name.
        """
        if not getattr(adapter, "name", None):
            raise ValueError(f"{adapter.__name__} has no name")
        keys = (adapter.name, *adapter.aliases)
        for key in keys:
            existing = self._by_name.get(key)
            if existing is not None and existing is not adapter and not replace:
                raise ValueError(f"Adapter name {key!r} is already registered by {existing.__name__}")
        for key in keys:
            self._by_name[key] = adapter
        return adapter

    def get(self, name: str) -> type[PayloadAdapter]:
        """The adapter class registered under ``name`` or an alias.

        Raises:
            KeyError: nothing is registered under ``name``.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown adapter {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Every registered adapter name and alias."""
        return sorted(self._by_name)


@dataclass(frozen=True, slots=True)
class _Step:
    adapter: PayloadAdapter
    config: Mapping[str, Any]


class AdapterChain:
    """The adapters of one provider and model, in order, split by the stage they act on."""

    __slots__ = ("_client", "_payload", "_request", "_response", "_stream", "names")

    def __init__(self, steps: Sequence[tuple[PayloadAdapter, Mapping[str, Any]]] = ()) -> None:
        self.names: tuple[str, ...] = tuple(adapter.name for adapter, _ in steps)
        by_stage: dict[Stage, list[_Step]] = {stage: [] for stage in STAGES}
        for adapter, config in steps:
            for stage in adapter.active_stages(config):
                by_stage[stage].append(_Step(adapter, config))
        self._request = tuple(by_stage["request"])
        self._response = tuple(by_stage["response"])
        self._payload = tuple(by_stage["stream_payload"])
        self._stream = tuple(by_stage["stream_event"])
        self._client = tuple(by_stage["client_response"])

    @classmethod
    def for_provider(
        cls,
        entries: Sequence[str | AdapterConfig | Mapping[str, Any]],
        model: str,
        registry: AdapterRegistry,
        *,
        provider: str = "",
    ) -> AdapterChain:
        """The chain a provider's ``adapters`` config gives for upstream ``model``.

        Raises:
            ConfigError: an adapter name nobody registered.
        """
        steps: list[tuple[PayloadAdapter, Mapping[str, Any]]] = []
        for i, entry in enumerate(entries):
            spec = _spec(entry)
            try:
                adapter = registry.get(spec.name)
            except KeyError as exc:
                raise ConfigError(f"providers.{provider}.adapters[{i}]: {exc.args[0]}") from None
            if spec.models is None or model in spec.models:
                steps.append((adapter(), spec.config))
        return cls(steps)

    def __bool__(self) -> bool:
        return bool(self.names)

    @property
    def has_request(self) -> bool:
        """True when some adapter acts on requests."""
        return bool(self._request)

    @property
    def has_response(self) -> bool:
        """True when some adapter acts on response bodies."""
        return bool(self._response)

    @property
    def has_stream_payload(self) -> bool:
        """True when some adapter acts on raw stream payloads."""
        return bool(self._payload)

    @property
    def has_stream(self) -> bool:
        """True when some adapter acts on stream events."""
        return bool(self._stream)

    @property
    def has_client_response(self) -> bool:
        """True when some adapter acts on the client's response body."""
        return bool(self._client)

    def request(self, native: NativeRequest, ctx: AdapterContext) -> NativeRequest:
        """Run the request stage; returns the native request to send (the same one unless replaced)."""
        for step in self._request:
            ctx.config = step.config
            native = step.adapter.transform_request(native, ctx) or native
            _after(ctx, step, "request", native.body)
        return native

    def response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Run the response stage on a JSON body."""
        for step in self._response:
            ctx.config = step.config
            body = step.adapter.transform_response(body, ctx)
            _after(ctx, step, "response", body)
        return body

    def stream_payload(self, payload: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Run the stream-payload stage on one raw JSON payload of an upstream stream."""
        for step in self._payload:
            ctx.config = step.config
            payload = step.adapter.transform_stream_payload(payload, ctx)
        return payload

    def client_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        """Run the client-response stage on the JSON body the client receives."""
        for step in self._client:
            ctx.config = step.config
            body = step.adapter.transform_client_response(body, ctx)
            _after(ctx, step, "client_response", body)
        return body

    def stream_event(self, event: StreamEvent, ctx: AdapterContext) -> StreamEvent | None:
        """Run the stream stage on one canonical event; None when an adapter dropped it."""
        current: StreamEvent | None = event
        for step in self._stream:
            if current is None:
                return None
            ctx.config = step.config
            current = step.adapter.transform_stream_event(current, ctx)
        return current


def _after(ctx: AdapterContext, step: _Step, stage: Stage, payload: Any) -> None:
    """The ``after_adapter`` trace pass: the payload as one adapter left it."""
    if ctx.trace is not None:
        direction: Direction = "request" if stage == "request" else "response"
        component: Component = "client" if stage == "client_response" else "provider"
        ctx.trace.record(
            "after_adapter", payload, direction=direction, component=component, adapter=step.adapter.name, stage=stage
        )


def validate_adapters(config: RotatorConfig, registry: AdapterRegistry) -> None:
    """Check every provider's adapter names and settings against ``registry``; called at construction.

    Raises:
        ConfigError: an unknown adapter or a bad setting, naming the field.
    """
    for provider, settings in config.providers.items():
        for i, entry in enumerate(settings.adapters):
            spec = _spec(entry)
            where = f"providers.{provider}.adapters[{i}]"
            try:
                registry.get(spec.name).validate_config(spec.config)
            except KeyError as exc:
                raise ConfigError(f"{where}: {exc.args[0]}") from None
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where} ({spec.name}): {exc}") from None


def _spec(entry: str | AdapterConfig | Mapping[str, Any]) -> AdapterConfig:
    if isinstance(entry, AdapterConfig):
        return entry
    if isinstance(entry, str):
        return AdapterConfig(name=entry)
    return AdapterConfig.model_validate(entry)
