"""Processing between the protocols and the upstream: payload adapters, paths, and field-cache rules (which
include the built-in provider-state rules of reasoning continuity)."""

from __future__ import annotations

from ..errors import FieldCachePathError
from .adapters import AdapterChain, AdapterContext, AdapterRegistry, PayloadAdapter, validate_adapters
from .builtin_adapters import builtin_adapters
from .context import CacheContext, StreamCollector
from .field_cache import FieldCache, validate_rules
from .paths import Path, compile_path
from .provider_state import BUILTIN_RULES, ProviderStateRule

__all__ = [
    "BUILTIN_RULES",
    "AdapterChain",
    "AdapterContext",
    "AdapterRegistry",
    "CacheContext",
    "FieldCache",
    "FieldCachePathError",
    "Path",
    "PayloadAdapter",
    "ProviderStateRule",
    "StreamCollector",
    "builtin_adapters",
    "compile_path",
    "validate_adapters",
    "validate_rules",
]
