"""``ProtocolRouter``: the gateway as middleware around a host app (Django's ASGI handler, say)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from asgiref.compatibility import guarantee_single_callable

from ..app import RotatorASGI
from ..config import RotatorConfig
from ..http.asgi import relative_path
from ..types import ASGIApp, Message, Receive, Scope, Send


class ProtocolRouter:
    """Serves the LLM routes under ``prefix`` and passes every other request to ``app``.

    Lifespan goes to the host app; the gateway starts with the host's startup (or lazily, if the server
    sends no lifespan) and closes after the host's shutdown.

    Args:
        app: the host ASGI app.
        config: the gateway configuration (anything :class:`RotatorASGI` takes).
        prefix: the path the gateway answers under, such as ``/llm``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: RotatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        prefix: str = "/llm",
        gateway: RotatorASGI | None = None,
    ) -> None:
        self.app = guarantee_single_callable(app)  # type: ignore[no-untyped-call]
        self.gateway = gateway or RotatorASGI(config)
        self.prefix = "/" + prefix.strip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] in ("http", "websocket"):
            path = relative_path(scope)
            if path == self.prefix or path.startswith(self.prefix + "/"):
                child = dict(scope)
                child["root_path"] = scope.get("root_path", "") + self.prefix
                if not scope["path"].startswith(child["root_path"]):
                    child["path"] = child["root_path"] + path[len(self.prefix) :]
                await self.gateway(child, receive, send)
                return
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        host_listened = False

        async def host_receive() -> Message:
            nonlocal host_listened
            host_listened = True
            return await receive()

        try:
            await self.app(scope, host_receive, self._lifespan_send(send))
        except Exception:
            if host_listened:
                raise
            # The host does not speak lifespan (Django's ASGI handler refuses it): run the gateway's own.
            await self.gateway(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self.gateway.startup()
            elif message["type"] == "lifespan.shutdown.complete":
                await self.gateway.shutdown()
            await send(message)

        return wrapped
