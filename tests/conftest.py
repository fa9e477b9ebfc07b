"""Shared fixtures: a FakeUpstream and a gateway host, each served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream, Reply

from .redis_servers import RedisCluster, Server, binary, valkey_binary
from .servers import LoopbackServer, Swappable

PROXY_KEY = "proxy-test-key-0001"


@pytest.fixture(scope="session")
def _upstream_server() -> Iterator[tuple[Swappable, str]]:
    swappable = Swappable()
    server = LoopbackServer(swappable)
    url = server.start()
    yield swappable, url
    server.stop()


@pytest.fixture(scope="session")
def _gateway_server() -> Iterator[tuple[Swappable, str]]:
    swappable = Swappable()
    server = LoopbackServer(swappable)
    url = server.start()
    yield swappable, url
    server.stop()


@pytest.fixture
def fake(_upstream_server: tuple[Swappable, str]) -> FakeUpstream:
    """A fresh FakeUpstream, served on loopback; its URL is ``fake.url``."""
    swappable, url = _upstream_server
    upstream = FakeUpstream()
    upstream.url = url  # type: ignore[attr-defined]
    swappable.app = upstream
    return upstream


def host_app(gateway: RotatorASGI) -> Starlette:
    """A Starlette host with routes of its own and the gateway mounted at /llm (no lifespan forwarded)."""

    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("starlette host home")

    return Starlette(routes=[Route("/", home), Mount("/llm", app=gateway)])


#: Every secret any test configured; no trace file of the whole run may contain one.
SECRETS: set[str] = {PROXY_KEY}


@pytest.fixture(scope="session", autouse=True)
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Traces of the whole suite go here; at the end, every file is scanned for configured secrets."""
    directory = tmp_path_factory.mktemp("traces")
    yield directory
    files = list(directory.rglob("*.jsonl"))  # test_tracing_e2e proves files are written at all
    # Provider state (the fake's reasoning signature) is as secret as a key: it never reaches a trace either.
    leaks = [(f.name, s) for f in files for s in (*SECRETS, Reply.signature) if s in f.read_text()]
    assert not leaks, f"secrets found in trace files: {leaks[:5]}"


def _remember_secrets(config: dict[str, Any]) -> None:
    for provider in config.get("providers", {}).values():
        for credential in provider.get("credentials", []):
            secret = credential if isinstance(credential, str) else credential.get("key")
            if secret:  # an oauth_file entry's tokens are registered by the test that writes the file
                SECRETS.add(secret)
    auth = config.get("auth", {})
    for key in (*auth.get("api_keys", []), *auth.get("admin_keys", [])):
        SECRETS.add(key if isinstance(key, str) else key["key"])


@pytest.fixture
def gateway(_gateway_server: tuple[Swappable, str], fake: FakeUpstream, trace_dir: Any) -> Iterator[Callable[..., str]]:
    """Build a gateway from a config, mount it in a Starlette host, and return the mount's base URL.

    ``providers`` in the config may use ``{fake}`` in base_url; the proxy key is :data:`PROXY_KEY`.
    """
    swappable, url = _gateway_server
    built: list[RotatorASGI] = []

    def build(config: dict[str, Any], **options: Any) -> str:
        for provider in config.get("providers", {}).values():
            provider["base_url"] = provider["base_url"].format(fake=fake.url)  # type: ignore[attr-defined]
        config.setdefault("auth", {"api_keys": [PROXY_KEY]})
        config.setdefault("trace", {"enabled": True, "dir": str(trace_dir)})
        _remember_secrets(config)
        app = RotatorASGI(config, **options)
        built.append(app)
        swappable.app = host_app(app)
        return url + "/llm"

    yield build
    for app in built:
        swappable.run(app.shutdown())


def openai_provider(*keys: str, **extra: Any) -> dict[str, Any]:
    """A provider block for the fake upstream's OpenAI Chat endpoint."""
    return {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": list(keys), **extra}


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A private 3-master Redis Cluster for the session (see tests/redis_servers.py)."""
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A private valkey-server for the session."""
    server = Server(tmp_path_factory.mktemp("valkey"), valkey_binary())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis_server(tmp_path: Path) -> Iterator[Server]:
    """A redis-server of the test's own, whose every command the test may count."""
    server = Server(tmp_path, binary("redis-server"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
