"""``RotatorASGI``: the gateway as one raw ASGI application, for any host to mount."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from . import dashboard  # dashboard wiring
from .config import RotatorConfig, load_config
from .gateway import Gateway
from .http.asgi import encode_headers, relative_path, send_bytes  # dashboard wiring: encode_headers, send_bytes
from .pipeline import validate_adapters, validate_rules
from .state import StateBackend
from .types import Message, Receive, Scope, Send


class RotatorASGI:
    """The LLM gateway as an ASGI app: mount it under any path of a host app, or serve it alone.

    It starts on lifespan startup when the host forwards lifespan, and otherwise lazily on the first request
    (Starlette's and FastAPI's ``mount`` do not forward lifespan).

    Args:
        config: a dict, a :class:`RotatorConfig`, a path to a YAML or JSON file, or None to read
            ``ROTATOR_CONFIG`` and the environment. Validated here, so a bad config fails at construction.
        backend: a state backend to use instead of the one ``config.state`` names.
        upstream_transport: an httpx transport for upstream requests instead of the gateway's own pooled one
            (for tests: ``httpx.ASGITransport(app=FakeUpstream())``).
    """

    def __init__(
        self,
        config: RotatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        backend: StateBackend | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = load_config(config)
        validate_adapters(self.config)
        validate_rules(self.config)
        self._options: dict[str, Any] = {
            "backend": backend,
            "upstream_transport": upstream_transport,
            "clock": clock,
        }
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
                    self._gateway = Gateway(self.config, **self._options)
        return self._gateway

    async def shutdown(self) -> None:
        """Close upstream connections and the state backend."""
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # --- dashboard wiring (branch `dashboard`): the page and its assets need no key and are not traced.
            if scope["method"] == "GET" and (page := dashboard.response(relative_path(scope))) is not None:
                await send_bytes(send, page[0], page[1], encode_headers(page[2]))
                return
            # --- end of dashboard wiring
            gateway = self._gateway or await self.startup()
            await gateway.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            gateway = self._gateway or await self.startup()
            await gateway.handle_websocket(scope, receive, send, relative_path(scope))

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
