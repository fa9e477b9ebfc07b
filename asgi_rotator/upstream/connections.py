"""What outlives a configuration: the state backend and the upstream connection pools.

A runtime configuration change builds a new :class:`~asgi_rotator.gateway.Gateway` and retires the old one;
both use the same :class:`Connections`, so a change neither drops pooled upstream connections nor reconnects
to Redis. The app closes them at shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from ..config.models import RotatorConfig
from ..litellm_loader import loaded_litellm
from ..protocols.registry import ProtocolRegistry
from ..state import StateBackend, backend_from_config
from .aiohttp_transport import AiohttpTransport
from .litellm_transport import LiteLLMTransport


class Connections:
    """The backend and upstream transports of one app, from its lifetime's start to its shutdown.

    Args:
        config: the configuration (its ``state`` section; runtime changes never touch it).
        backend: a backend to use instead of the one ``config.state`` names.
        http: an httpx transport to use instead of the gateway's own pooled aiohttp one (a test seam).
        clock: the backend's clock.
    """

    def __init__(
        self,
        config: RotatorConfig,
        *,
        backend: StateBackend | None = None,
        http: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend or backend_from_config(config.state, clock=clock)
        self.http = http or AiohttpTransport(config.server)
        self._litellm: LiteLLMTransport | None = None

    def litellm(self, config: RotatorConfig, protocols: ProtocolRegistry) -> LiteLLMTransport | None:
        """The in-process LiteLLM upstream, made once a configuration has a provider that goes through LiteLLM
        (the app loaded it before building that configuration's gateway)."""
        module = loaded_litellm()
        if self._litellm is None and module is not None:
            if any(protocols.get(p.protocol).upstream == "litellm" for p in config.providers.values()):
                self._litellm = LiteLLMTransport(module)
        return self._litellm

    async def aclose(self) -> None:
        """Close the upstream connection pools (LiteLLM's too) and the state backend."""
        await self.http.aclose()
        if self._litellm is not None:
            await self._litellm.aclose()
        await self.backend.aclose()
