"""``RotatorASGI``: the gateway as one raw ASGI application, for any host to mount."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .config import RotatorConfig, load_config
from .errors import ConfigError
from .gateway import Collaborators, Gateway
from .pipeline import AdapterRegistry, builtin_adapters, validate_adapters, validate_rules
from .protocols import builtin_protocols
from .protocols.registry import ProtocolRegistry
from .state import StateBackend
from .types import Message, Receive, Scope, Send


class RotatorASGI:
    """The LLM gateway as an ASGI app: mount it under any path of a host app, or serve it alone.

    It starts on lifespan startup when the host forwards lifespan, and otherwise lazily on the first request
    (Starlette's and FastAPI's ``mount`` do not forward lifespan).

    Args:
        config: a dict, a :class:`RotatorConfig`, a path to a YAML or JSON file, or None to read
            ``ROTATOR_CONFIG`` and the environment. Validated here, so a bad config fails at construction.
        protocols: this app's protocol registry (by default a new one with the built-ins); register a custom
            or deviating protocol on it, and no other app in the process sees it.
        adapters: this app's adapter registry (by default a new one with the built-in adapters).
        backend: a state backend to use instead of the one ``config.state`` names.
        upstream_transport: an httpx transport for upstream requests instead of the gateway's own pooled one
            (for tests: ``httpx.ASGITransport(app=FakeUpstream())``).
    """

    def __init__(
        self,
        config: RotatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        protocols: ProtocolRegistry | None = None,
        adapters: AdapterRegistry | None = None,
        backend: StateBackend | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = load_config(config)
        self._given = Collaborators(
            protocols or builtin_protocols(), adapters or builtin_adapters(), backend, upstream_transport, clock
        )
        for name, provider in self.config.providers.items():
            if provider.protocol not in self._given.protocols:
                known = ", ".join(self._given.protocols.names())
                raise ConfigError(f"providers.{name}.protocol: unknown protocol {provider.protocol!r}; known: {known}")
            output = provider.default_output_protocol
            if output is not None and output not in self._given.protocols:
                known = ", ".join(self._given.protocols.names())
                raise ConfigError(
                    f"providers.{name}.default_output_protocol: unknown protocol {output!r}; known: {known}"
                )
        validate_adapters(self.config, self._given.adapters)
        validate_rules(self.config)
        self._gateway: Gateway | None = None
        self._starting: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"RotatorASGI(providers={sorted(self.config.providers)!r})"

    async def startup(self) -> Gateway:
        """Start the gateway now (idempotent); lazy start and lifespan both come here."""
        if self._gateway is None:
            if self._starting is None:
                self._starting = asyncio.Lock()
            async with self._starting:
                if self._gateway is None:
                    self._gateway = Gateway(self.config, self._given)
        return self._gateway

    async def shutdown(self) -> None:
        """Close upstream connections and the state backend."""
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            gateway = self._gateway or await self.startup()
            await gateway.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            gateway = self._gateway or await self.startup()
            await gateway.websocket(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
