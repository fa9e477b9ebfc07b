"""Shared state: the backend contract, the memory backend, and a factory that imports Redis only when asked."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config.models import StateConfig
from ..errors import ConfigError
from .base import StateBackend
from .degrading import DegradingBackend
from .memory import MemoryBackend


def backend_from_config(config: StateConfig, *, clock: Callable[[], float] = time.time) -> StateBackend:
    """The backend ``config`` names. Redis is imported only here, and only when chosen."""
    if config.backend == "memory":
        return MemoryBackend(clock=clock, max_keys=config.memory_max_keys)
    if not config.url:
        raise ConfigError("state.url: the redis backend needs a url such as redis://127.0.0.1:6379/0")
    from .redis import RedisBackend  # only now: redis is an optional extra

    if config.on_error == "fail":
        return RedisBackend.from_url(config.url, clock=clock)
    redis = RedisBackend.from_url(config.url, clock=clock, report_health=False)
    fallback = MemoryBackend(clock=clock, max_keys=config.memory_max_keys)
    return DegradingBackend(redis, fallback, retry_after=config.retry_after)


__all__ = ["DegradingBackend", "MemoryBackend", "StateBackend", "backend_from_config"]
