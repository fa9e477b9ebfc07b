"""Processing between the protocols and the upstream: payload adapters and provider state continuity."""

from __future__ import annotations

from .adapters import AdapterChain, AdapterContext, PayloadAdapter, chain_for, register_adapter, validate_adapters
from .provider_state import RULES, ProviderState, client_carries

__all__ = [
    "RULES",
    "AdapterChain",
    "AdapterContext",
    "PayloadAdapter",
    "ProviderState",
    "chain_for",
    "client_carries",
    "register_adapter",
    "validate_adapters",
]
