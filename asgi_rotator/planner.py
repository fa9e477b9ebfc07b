"""The planner: a requested model name becomes an ordered list of targets to try.

``provider/model`` names a provider directly (the part after the first ``/`` is the upstream model and may
contain ``/`` itself); a name with a ``/`` whose first part is no provider is a 404 naming the known ones, never
re-read as a bare name; an alias from ``routing.aliases`` stands for one of those; a bare name goes to the
only provider that lists it, or to the only provider of the client's protocol family. When the target is
in a fallback group, the group's other targets follow it in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config.models import FallbackGroup, ProviderConfig, RotatorConfig
from .errors import GatewayError
from .protocols.base import WireProtocol
from .protocols.registry import ProtocolRegistry

_MAX_ALIAS_DEPTH = 8
#: Longest model name accepted; real ones are far shorter, and every name may end up in a URL and a header.
MAX_MODEL_NAME = 256


@dataclass(frozen=True, slots=True)
class Target:
    """One provider and upstream model to try."""

    provider: str
    model: str
    config: ProviderConfig
    protocol: WireProtocol

    @property
    def name(self) -> str:
        """``provider/model``, the served model's public name."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The targets for one request, in order, and the fallback group's policy when there is one."""

    targets: tuple[Target, ...]
    group: FallbackGroup | None = None


class Planner:
    """Resolves model names against the configuration. Built once per app; pure lookups per request."""

    def __init__(self, config: RotatorConfig, protocols: ProtocolRegistry) -> None:
        self._config = config
        self._protocols = {name: protocols.get(p.protocol) for name, p in config.providers.items()}
        self._listed: dict[str, list[str]] = {}
        for name, provider in config.providers.items():
            for model in provider.models:
                self._listed.setdefault(model, []).append(name)

    def plan(self, model: str, family: str) -> Plan:
        """The targets for ``model`` as requested by a client of protocol ``family``.

        Raises:
            GatewayError: 400 for a name that is not printable text of at most 256 characters; 404 naming the
                expected form, for an unknown provider or an ambiguous bare name.
        """
        if not model or len(model) > MAX_MODEL_NAME or not model.isprintable():
            raise GatewayError(
                "invalid_request",
                f"A model name is printable text of 1 to {MAX_MODEL_NAME} characters "
                "(no control or formatting characters).",
                param="model",
            )
        first = self._resolve(model, family)
        for group in self._config.routing.fallback_groups:
            if first.name in group.targets:
                rest = [self._resolve(t, family) for t in group.targets if t != first.name]
                return Plan((first, *rest), group)
        return Plan((first,))

    def _resolve(self, model: str, family: str) -> Target:
        aliases = self._config.routing.aliases
        for _ in range(_MAX_ALIAS_DEPTH):
            if model not in aliases:
                break
            model = aliases[model]
        provider, sep, upstream_model = model.partition("/")
        known = ", ".join(sorted(self._config.providers)) or "none configured"
        if sep:
            # Never re-read as a bare name: that would send it, silently, to some other provider.
            if provider not in self._config.providers:
                message = f"Unknown provider {provider!r} in model {model!r}; known providers: {known}."
                raise GatewayError("not_found", message, param="model")
            if not upstream_model:
                raise GatewayError("not_found", f"Model {model!r} names no model after the provider.", param="model")
            return self._target(provider, upstream_model)
        listed = self._listed.get(model, [])
        if len(listed) == 1:
            return self._target(listed[0], model)
        if not listed:
            same_family = [name for name, p in self._protocols.items() if p.family == family]
            if len(same_family) == 1:
                return self._target(same_family[0], model)
        message = f"Cannot tell which provider serves model {model!r}; use 'provider/model' (providers: {known})."
        raise GatewayError("not_found", message, param="model")

    def _target(self, provider: str, model: str) -> Target:
        return Target(provider, model, self._config.providers[provider], self._protocols[provider])
