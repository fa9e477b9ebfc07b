"""Processing between the protocols and the upstream: payload adapters, paths, and field-cache rules (which
include the built-in provider-state rules of reasoning continuity)."""

from __future__ import annotations

from . import builtin_adapters as _builtin_adapters  # noqa: F401  (registers the built-in adapters)
from .adapters import (
    AdapterChain,
    AdapterContext,
    PayloadAdapter,
    get_adapter,
    list_adapters,
    register_adapter,
    validate_adapters,
)
from .context import CacheContext, StreamCollector
from .field_cache import FieldCache, validate_rules
from .paths import FieldCachePathError, Path, compile_path
from .provider_state import BUILTIN_RULES, ProviderStateRule, client_carries

__all__ = [
    "BUILTIN_RULES",
    "AdapterChain",
    "AdapterContext",
    "CacheContext",
    "FieldCache",
    "FieldCachePathError",
    "Path",
    "PayloadAdapter",
    "ProviderStateRule",
    "StreamCollector",
    "client_carries",
    "compile_path",
    "get_adapter",
    "list_adapters",
    "register_adapter",
    "validate_adapters",
    "validate_rules",
]
