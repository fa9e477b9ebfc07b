"""Request and response processing between the protocols and the upstream: provider state continuity."""

from __future__ import annotations

from .provider_state import RULES, ProviderState, client_carries

__all__ = ["RULES", "ProviderState", "client_carries"]
