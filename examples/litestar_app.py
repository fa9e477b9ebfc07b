"""Litestar host with the gateway mounted at /llm.

    ROTATOR_CONFIG=examples/providers.yaml uvicorn examples.litestar_app:app
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, asgi, get

from asgi_rotator import RotatorASGI

gateway = RotatorASGI()


@get("/")
async def home() -> dict[str, str]:
    return {"hello": "world"}


# Litestar strips the mount path and adds a trailing slash; the gateway routes on either form.
@asgi("/llm", is_mount=True, copy_scope=True)
async def llm(scope: Any, receive: Any, send: Any) -> None:
    await gateway(scope, receive, send)


app = Litestar(route_handlers=[home, llm])
