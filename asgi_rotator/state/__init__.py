"""Shared state: the backend contract, the memory backend, and a factory that imports Redis only when asked."""

from __future__ import annotations

from ..config.models import StateConfig
from ..errors import ConfigError
from .base import StateBackend
from .memory import MemoryBackend


def backend_from_config(config: StateConfig) -> StateBackend:
    """The backend ``config`` names. Redis is imported only here, and only when chosen."""
    if config.backend == "memory":
        return MemoryBackend()
    try:
        from .redis import RedisBackend
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(f"state.backend: redis needs the redis extra ({exc})") from None
    if not config.url:
        raise ConfigError("state.url: the redis backend needs a url such as redis://127.0.0.1:6379/0")
    return RedisBackend.from_url(config.url)


__all__ = ["MemoryBackend", "StateBackend", "backend_from_config"]
