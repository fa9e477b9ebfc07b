"""Configuration: the pydantic schema and the loader."""

from __future__ import annotations

from .loader import load_config
from .models import (
    AuthConfig,
    ClientKey,
    CredentialConfig,
    FallbackGroup,
    ModelOptions,
    Pricing,
    ProviderConfig,
    RotatorConfig,
    ScopeConfig,
    StateConfig,
    StreamingConfig,
)

__all__ = [
    "AuthConfig",
    "ClientKey",
    "CredentialConfig",
    "FallbackGroup",
    "ModelOptions",
    "Pricing",
    "ProviderConfig",
    "RotatorConfig",
    "ScopeConfig",
    "StateConfig",
    "StreamingConfig",
    "load_config",
]
