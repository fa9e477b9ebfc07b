"""Mounting, lifespan, the middleware form, auth, and error shapes: in-process, over httpx.ASGITransport."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from asgi_lifespan import LifespanManager

from asgi_rotator import ConfigError, ProtocolRouter, RotatorASGI, app as app_module
from asgi_rotator.http.asgi import relative_path
from asgi_rotator.state import MemoryBackend
from asgi_rotator.testing import FakeUpstream

from .conftest import PROXY_KEY, host_app

CHAT = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"authorization": f"Bearer {PROXY_KEY}"}


def make_gateway(upstream: FakeUpstream, **extra) -> RotatorASGI:
    config = {
        "providers": {
            "fake": {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": ["sk-inproc-1111"]}
        },
        "auth": {"api_keys": [PROXY_KEY]},
        **extra,
    }
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


async def test_lazy_start_under_starlette_mount(upstream):
    gateway = make_gateway(upstream)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host_app(gateway)), base_url="http://host") as c:
        assert (await c.get("/")).text == "starlette host home"
        reply = await c.post("/llm/v1/chat/completions", json=CHAT, headers=AUTH)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    await gateway.shutdown()


async def test_lifespan_starts_and_stops_the_gateway(upstream):
    gateway = make_gateway(upstream)
    async with LifespanManager(gateway) as manager:
        assert gateway._gateway is not None
        transport = httpx.ASGITransport(app=manager.app)
        async with openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key=PROXY_KEY, http_client=_httpx2_client(manager.app)
        ) as client:
            reply = await client.chat.completions.create(**CHAT)
        assert reply.choices[0].message.content
        await transport.aclose()
    assert gateway._gateway is None


async def test_a_wedged_backend_cannot_hold_up_shutdown(upstream, monkeypatch, caplog):
    class Wedged(MemoryBackend):
        async def aclose(self) -> None:
            await asyncio.Event().wait()  # a Redis that never answers

    monkeypatch.setattr(app_module, "_SHUTDOWN_STEP", 0.2)
    gateway = RotatorASGI(
        {
            "providers": {"fake": {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": ["k"]}},
            "auth": {"api_keys": [PROXY_KEY]},
        },
        backend=Wedged(),
        upstream_transport=httpx.ASGITransport(app=upstream),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)).status_code == 200
    async with asyncio.timeout(5):
        await gateway.shutdown()
    assert "shutdown step Connections.aclose took over 0.2s" in caplog.text


def _httpx2_client(app):
    import httpx2

    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))


async def test_protocol_router_wraps_a_host_app(upstream):
    async def host(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"host:" + scope["path"].encode()})

    router = ProtocolRouter(host, gateway=make_gateway(upstream), prefix="/llm")
    async with LifespanManager(router) as manager:
        assert router.gateway._gateway is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://h") as c:
            assert (await c.get("/admin/")).text == "host:/admin/"
            assert (await c.get("/llmx")).text == "host:/llmx"
            reply = await c.post("/llm/v1/chat/completions", json=CHAT, headers=AUTH)
            assert reply.status_code == 200, reply.text
    assert router.gateway._gateway is None


def test_relative_path_for_each_host_convention():
    assert relative_path({"path": "/llm/v1/chat/completions", "root_path": "/llm"}) == "/v1/chat/completions"
    # Litestar strips the mount prefix from path, leaves root_path alone, and appends a slash.
    assert relative_path({"path": "/v1/chat/completions/", "root_path": ""}) == "/v1/chat/completions/"
    assert relative_path({"path": "/v1/models", "root_path": "/proxy"}) == "/v1/models"


@pytest.fixture
async def client(upstream):
    gateway = make_gateway(upstream, server={"max_body_bytes": 4096})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as c:
        yield c
    await gateway.shutdown()


@pytest.mark.parametrize(
    "headers,query",
    [
        ({"authorization": f"Bearer {PROXY_KEY}"}, ""),
        ({"x-api-key": PROXY_KEY}, ""),
        ({"x-goog-api-key": PROXY_KEY}, ""),
        ({}, f"?key={PROXY_KEY}"),
    ],
)
async def test_every_key_form_is_accepted(client, headers, query):
    reply = await client.post("/v1/chat/completions" + query, json=CHAT, headers=headers)
    assert reply.status_code == 200


@pytest.mark.parametrize(
    "path,method", [("/v1/chat/completions", "POST"), ("/v1/models", "GET"), ("/rotator/credentials", "GET")]
)
async def test_wrong_or_missing_key_is_401_in_openai_shape(client, path, method):
    for headers in ({}, {"authorization": "Bearer wrong"}):
        reply = await client.request(method, path, json=CHAT, headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["type"] == "authentication_error"
        assert PROXY_KEY not in reply.text


async def test_health_needs_no_key(client):
    reply = await client.get("/rotator/health")
    assert reply.status_code == 200 and reply.json()["status"] == "ok"


async def test_bad_json_and_bad_fields_are_400_naming_the_field(client):
    reply = await client.post("/v1/chat/completions", content=b"{not json", headers=AUTH)
    assert reply.status_code == 400 and "JSON" in reply.json()["error"]["message"]
    reply = await client.post("/v1/chat/completions", json={"model": "fake/m"}, headers=AUTH)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "messages"
    reply = await client.post("/v1/chat/completions", json={**CHAT, "temperature": "hot"}, headers=AUTH)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "temperature"


async def test_unknown_path_and_method(client):
    reply = await client.post("/v1/unknown", json=CHAT, headers=AUTH)
    assert reply.status_code == 404 and reply.json()["error"]["type"] == "not_found_error"
    reply = await client.get("/v1/chat/completions", headers=AUTH)
    assert reply.status_code == 405


@pytest.mark.parametrize(
    "method,path", [("POST", "/v1/unknown"), ("GET", "/v1/chat/completions"), ("DELETE", "/rotator/usage")]
)
async def test_auth_comes_before_routing(client, method, path):
    # Without a key nothing says whether a path exists: 401, never 404 or 405.
    reply = await client.request(method, path, headers={"authorization": "Bearer wrong"})
    assert reply.status_code == 401 and reply.json()["error"]["type"] == "authentication_error"


async def test_the_mount_root_answers_a_probe_without_a_key(client):
    for method in ("GET", "HEAD"):
        reply = await client.request(method, "/")
        assert reply.status_code == 200 and reply.content == b""


async def test_body_over_the_limit_is_413(client):
    reply = await client.post("/v1/chat/completions", json={**CHAT, "pad": "x" * 5000}, headers=AUTH)
    assert reply.status_code == 413


async def test_models_listing(client):
    reply = await client.get("/v1/models", headers=AUTH)
    assert reply.status_code == 200 and reply.json()["object"] == "list"


def test_bad_config_names_the_field_and_hides_secrets():
    with pytest.raises(ConfigError) as caught:
        RotatorASGI(
            {
                "providers": {
                    "p": {"protocol": "openai_chat", "base_url": "not a url", "credentials": ["sk-very-secret"]}
                }
            }
        )
    assert "providers.p.base_url" in str(caught.value) and "sk-very-secret" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"providers.p: .*base_url is required"):
        RotatorASGI({"providers": {"p": {"protocol": "openai_chat"}}})
    with pytest.raises(ConfigError, match=r"providers.p.protocol: unknown protocol 'smoke_signals'"):
        RotatorASGI({"providers": {"p": {"protocol": "smoke_signals", "base_url": "http://x"}}})
