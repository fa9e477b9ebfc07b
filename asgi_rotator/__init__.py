"""asgi_rotator: an LLM API gateway as a mountable ASGI app.

Mount :class:`RotatorASGI` under a path of any ASGI host (or wrap the host in :class:`ProtocolRouter`) and
clients reach every configured provider through the OpenAI Chat, OpenAI Responses, Anthropic Messages and
Gemini protocols, with credential rotation, cooldowns and fallback behind them.
"""

from __future__ import annotations

from ._version import __version__
from .app import RotatorASGI
from .config import RotatorConfig, load_config
from .errors import (
    APIStatusError,
    BackendError,
    ConfigError,
    GatewayError,
    MissingDependency,
    RequestDenied,
    RotatorError,
    UpstreamError,
)
from .middleware import ProtocolRouter, StreamingGuard
from .tracing import TracingMiddleware

__all__ = [
    "APIStatusError",
    "BackendError",
    "ConfigError",
    "GatewayError",
    "MissingDependency",
    "ProtocolRouter",
    "RequestDenied",
    "RotatorASGI",
    "RotatorConfig",
    "RotatorError",
    "StreamingGuard",
    "TracingMiddleware",
    "UpstreamError",
    "load_config",
    "__version__",
]
