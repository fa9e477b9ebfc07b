"""FastAPI host with the gateway mounted at /llm.

    pip install 'asgi-rotator' fastapi
    ROTATOR_CONFIG=examples/providers.yaml uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

from fastapi import FastAPI

from asgi_rotator import RotatorASGI

app = FastAPI(title="my app")


@app.get("/")
async def home() -> dict[str, str]:
    return {"hello": "world"}


# FastAPI's mount does not forward lifespan; the gateway starts on its first request.
app.mount("/llm", RotatorASGI())
