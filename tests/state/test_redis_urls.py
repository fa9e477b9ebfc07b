"""State URLs beyond plain redis://: TLS (rediss://) and Sentinel (redis+sentinel://), on private servers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI
from asgi_rotator.errors import ConfigError
from asgi_rotator.state.redis_connect import client_from_url
from asgi_rotator.testing import FakeUpstream

from ..conftest import PROXY_KEY

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to start private ones"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def started(command: list[str], port: int, *tls: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while (
        subprocess.run(["redis-cli", "-p", str(port), *tls, "PING"], capture_output=True, text=True).stdout.strip()
        != "PONG"
    ):
        assert time.monotonic() < deadline and process.poll() is None, f"{command[0]} did not start"
        time.sleep(0.05)
    return process


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl for a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    command = ["redis-server", "--port", "0", "--tls-port", str(port), "--save", "", "--tls-auth-clients", "no"]
    command += ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)]
    process = started(command, port, "--tls", "--cacert", str(cert))
    yield f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def sentinel_redis(tmp_path: Path) -> Iterator[str]:
    data, watcher = free_port(), free_port()
    primary = started(["redis-server", "--port", str(data), "--save", "", "--dir", str(tmp_path)], data)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {watcher}\nsentinel monitor gateway-state 127.0.0.1 {data} 1\n")
    sentinel = started(["redis-server", str(conf), "--sentinel"], watcher)
    yield f"redis+sentinel://127.0.0.1:{watcher}/gateway-state/0"
    for process in (sentinel, primary):
        process.terminate()
        process.wait(10)


async def serve_twice(url: str) -> None:
    provider = {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": ["sk-urls-1111"]}
    config = {
        "providers": {"p": provider},
        "auth": {"api_keys": [PROXY_KEY]},
        "state": {"backend": "redis", "url": url, "on_error": "fail"},
    }
    app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http) as client:
        for _ in range(2):
            await client.chat.completions.create(model="p/m", messages=[{"role": "user", "content": "hi"}])
        report = await client.get("/../rotator/usage", cast_to=httpx2.Response)
    await app.shutdown()
    assert report.json()["totals"]["requests"] == 2  # admitted, finished and counted through that Redis


async def test_a_tls_redis(tls_redis):
    await serve_twice(tls_redis)


async def test_the_primary_a_sentinel_names(sentinel_redis):
    await serve_twice(sentinel_redis)


def test_bad_urls_are_config_errors():
    with pytest.raises(ConfigError, match="unsupported scheme"):
        client_from_url("memcached://127.0.0.1:11211")
    with pytest.raises(ConfigError, match="names its hosts and service"):
        client_from_url("redis+sentinel://127.0.0.1:26379")
