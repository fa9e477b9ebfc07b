"""Starlette host with the gateway mounted at /llm.

    ROTATOR_CONFIG=examples/providers.yaml uvicorn examples.starlette_app:app
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from asgi_rotator import RotatorASGI


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("my app")


app = Starlette(routes=[Route("/", home), Mount("/llm", app=RotatorASGI())])
