"""The gateway's own upstream HTTP client (aiohttp) keeps what DESIGN.md section 6 asks of any client: a
user-agent, a configured proxy, TLS verification and a CA bundle, pool limits with a local pool timeout that
cools nothing, and no cookies carried from one request to the next. Driven through the official OpenAI SDK
against the raw hostile upstream of tests/hostile.py, so the real client meets a real socket."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from asgi_rotator import RotatorASGI, __version__

from .conftest import PROXY_KEY, SECRETS
from .golden import golden
from .hostile import HostileUpstream, drip, respond

KEY = "sk-client-test-cccc-3333-secret"
SECRETS.add(KEY)
GOOD = golden("openai_chat/response_logprobs")["body"]


def gateway(
    base_url: str, *, server: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> RotatorASGI:
    provider: dict[str, Any] = {"protocol": "openai_chat", "base_url": base_url, "credentials": [KEY]}
    if headers:
        provider["headers"] = headers
    return RotatorASGI(
        {
            "providers": {"up": provider},
            "auth": {"api_keys": [PROXY_KEY]},
            "routing": {"max_wait": 0},
            "server": server or {},
        }
    )


def sdk(app: RotatorASGI) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0)


async def ask(app: RotatorASGI) -> str:
    async with sdk(app) as client:
        completion = await client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "hi"}])
        return completion.choices[0].message.content or ""


@pytest.fixture
async def upstream():
    server = HostileUpstream(respond(200, GOOD))
    server.url = await server.start()  # type: ignore[attr-defined]
    yield server
    await server.stop()


async def test_requests_carry_the_gateway_user_agent_unless_the_provider_sets_one(upstream):
    app = gateway(upstream.url + "/v1")
    await ask(app)
    await app.aclose()
    own = gateway(upstream.url + "/v1", headers={"user-agent": "my-app/2.0"})
    await ask(own)
    await own.aclose()
    agents = [r["headers"]["user-agent"] for r in upstream.requests]
    assert agents == [f"asgi-rotator/{__version__}", "my-app/2.0"]
    assert all(r["headers"]["accept-encoding"] == "identity" for r in upstream.requests)


async def test_a_configured_proxy_receives_every_upstream_request(upstream):
    # The proxy here answers itself: what matters is that the request reached it in proxy form.
    app = gateway("http://provider.invalid/v1", server={"proxy": upstream.url})
    assert await ask(app) == GOOD["choices"][0]["message"]["content"]
    await app.aclose()
    (request,) = upstream.requests
    assert request["path"] == "http://provider.invalid/v1/chat/completions"
    assert request["key"] == KEY


async def test_proxies_from_the_environment_apply_unless_no_proxy_names_the_host(upstream, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    proxied = gateway("http://provider.invalid/v1")
    await ask(proxied)
    await proxied.aclose()
    assert upstream.requests[-1]["path"] == "http://provider.invalid/v1/chat/completions"
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    direct = gateway(upstream.url + "/v1")
    await ask(direct)
    await direct.aclose()
    assert upstream.requests[-1]["path"] == "/v1/chat/completions"


async def test_cookies_set_by_an_upstream_are_never_sent_back(upstream):
    upstream.default = respond(200, GOOD, {"set-cookie": "session=tenant-a; Path=/"})
    app = gateway(upstream.url + "/v1")
    await ask(app)
    await ask(app)
    await app.aclose()
    assert [r["headers"].get("cookie") for r in upstream.requests] == [None, None]


async def test_a_full_pool_answers_503_locally_and_cools_nothing(upstream):
    # One connection, held by a slow answer: the second request waits 0.2 s for it, then gets a local 503.
    upstream.default = drip(json.dumps(GOOD).encode(), every=0.001)
    app = gateway(upstream.url + "/v1", server={"max_connections": 1, "pool_timeout": 0.2})
    async with sdk(app) as client:
        first = asyncio.create_task(ask(app))
        await asyncio.sleep(0.1)
        with pytest.raises(openai.APIStatusError) as refused:
            await client.chat.completions.create(model="up/m", messages=[{"role": "user", "content": "hi"}])
        assert refused.value.status_code == 503
        assert refused.value.response.headers["retry-after"] == "1"
        assert "no free upstream connection" in refused.value.message
        assert KEY not in refused.value.message
        await first
    upstream.default = respond(200, GOOD)
    assert await ask(app)  # the only credential was not cooled by the local refusal (max_wait is 0)
    await app.aclose()


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_is_verified_against_certifi_or_the_configured_bundle(tmp_path: Path):
    cert, key = _certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    upstream = HostileUpstream(respond(200, GOOD))
    server = await asyncio.start_server(upstream._connection, "127.0.0.1", 0, ssl=tls)
    base = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    try:
        untrusted = gateway(base)
        with pytest.raises(openai.APIStatusError) as refused:
            await ask(untrusted)
        await untrusted.aclose()
        assert refused.value.status_code in (502, 503)
        assert upstream.requests == []  # the handshake failed before any request was sent
        for server_config in ({"ca_bundle": str(cert)}, {"verify_tls": False}):
            trusted = gateway(base, server=server_config)
            assert await ask(trusted) == GOOD["choices"][0]["message"]["content"]
            await trusted.aclose()
        assert len(upstream.requests) == 2
    finally:
        server.close()
        await upstream.stop()


def test_python_api_calls_from_one_event_loop_after_another(fake):
    # A script may call asyncio.run() once per call, closing the app at the end of each (docs/python-api.md).
    app = RotatorASGI(
        {
            "providers": {"up": {"protocol": "openai_chat", "base_url": fake.url + "/v1", "credentials": [KEY]}},
            "auth": {"api_keys": [PROXY_KEY]},
        }
    )
    answers = [asyncio.run(_complete_and_close(app)) for _ in range(2)]
    assert len(answers) == 2 and all(answers)
    assert [r.headers["authorization"] for r in fake.requests[-2:]] == [f"Bearer {KEY}"] * 2


async def _complete_and_close(app: RotatorASGI) -> str:
    messages = [{"role": "user", "content": "hi"}]
    answer = await app.acompletion(model="up/m", messages=messages, client_key=PROXY_KEY)
    await app.aclose()
    return str(answer["choices"][0]["message"]["content"])
