"""The gateway inside real host frameworks, served by uvicorn on loopback, called with the official SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from asgi_rotator import ProtocolRouter, RotatorASGI

from ..conftest import PROXY_KEY
from ..servers import LoopbackServer


def gateway_for(fake) -> RotatorASGI:
    return RotatorASGI(
        {
            "providers": {
                "fake": {"protocol": "openai_chat", "base_url": fake.url + "/v1", "credentials": ["sk-host-1111"]}
            },
            "auth": {"api_keys": [PROXY_KEY]},
        }
    )


def fastapi_host(gateway: RotatorASGI) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"host": "fastapi"}

    app.mount("/llm", gateway)
    return app


def starlette_host(gateway: RotatorASGI) -> Any:
    from ..conftest import host_app

    return host_app(gateway)


def litestar_host(gateway: RotatorASGI) -> Any:
    from litestar import Litestar, asgi, get

    @get("/")
    async def home() -> dict[str, str]:
        return {"host": "litestar"}

    @asgi("/llm", is_mount=True, copy_scope=True)
    async def llm(scope: Any, receive: Any, send: Any) -> None:
        await gateway(scope, receive, send)

    return Litestar(route_handlers=[home, llm])


_django_app: Any = None


def django_host(gateway: RotatorASGI) -> Any:
    global _django_app
    if _django_app is None:
        import django
        from django.conf import settings

        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="tests.hosts.django_urls",
            SECRET_KEY="tests-only",
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        django.setup()
        from django.core.asgi import get_asgi_application

        _django_app = get_asgi_application()
    return ProtocolRouter(_django_app, gateway=gateway, prefix="/llm")


HOSTS: dict[str, Callable[[RotatorASGI], Any]] = {
    "fastapi": fastapi_host,
    "starlette": starlette_host,
    "litestar": litestar_host,
    "django": django_host,
}


@pytest.fixture(params=sorted(HOSTS))
def hosted(request, fake) -> Iterator[tuple[str, str]]:
    gateway = gateway_for(fake)
    server = LoopbackServer(HOSTS[request.param](gateway))
    url = server.start()
    yield request.param, url
    # Hosts that do not forward lifespan never shut the gateway down: close its upstream connections here.
    asyncio.run_coroutine_threadsafe(gateway.shutdown(), server.server.servers[0].get_loop()).result(10)
    server.stop()


def test_host_serves_its_own_routes_and_the_gateway(hosted):
    import httpx

    name, url = hosted
    assert name in httpx.get(url + "/").text
    with openai.OpenAI(base_url=url + "/llm/v1", api_key=PROXY_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(model="fake/m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "Hello from the fake upstream."
        stream = client.chat.completions.create(
            model="fake/m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert (
            "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == reply.choices[0].message.content
        )
        assert [m.id for m in client.models.list().data] == []
    page = httpx.get(url + "/llm/rotator/")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert httpx.get(url + "/llm/rotator/assets/dashboard.js").status_code == 200
    listed = httpx.get(url + "/llm/rotator/requests", headers={"x-api-key": PROXY_KEY}).json()["requests"]
    # Mount-relative and without a host's trailing slash; newest first (the model listing came last).
    assert [row["path"] for row in listed] == ["/v1/models", "/v1/chat/completions", "/v1/chat/completions"]
    with anthropic.Anthropic(base_url=url + "/llm", api_key=PROXY_KEY, max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError):
            client.with_options(api_key="wrong").messages.create(
                model="fake/m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )


async def test_guard_and_tracing_around_a_hosts_own_sse_route(tmp_path):
    import asyncio

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route, request_response

    from asgi_rotator import StreamingGuard, TracingMiddleware
    from asgi_rotator.config.models import TraceConfig

    async def ticks(request):
        async def body():
            for i in range(3):
                await asyncio.sleep(0.15)
                yield f"data: tick {i}\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    guarded = StreamingGuard(request_response(ticks), heartbeat_interval=0.05, stall_timeout=2)
    traced = TracingMiddleware(guarded, config=TraceConfig(enabled=True, dir=str(tmp_path)))
    app = Starlette(routes=[Route("/events", endpoint=traced)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host") as client:
        reply = await client.get("/events", headers={"x-request-id": "host-sse-1"})
    request_id = reply.headers["x-request-id"]
    assert request_id != "host-sse-1"
    assert reply.text.count("data: tick") == 3 and ": keep-alive" in reply.text
    trace = (tmp_path / f"{request_id}.jsonl").read_text()
    assert "raw_client_request" in trace and "formatted_client_stream_event" in trace
