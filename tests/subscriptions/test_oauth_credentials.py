"""OAuth credential files end to end: renewal ahead of expiry and after a 401, single-flight across requests and
replicas, atomic 0600 write-back, encrypted sharing, benching, and tokens kept out of traces, logs and errors."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from cryptography.fernet import Fernet

from asgi_rotator import RotatorASGI
from asgi_rotator.state import MemoryBackend
from asgi_rotator.testing import Reply

from ..conftest import PROXY_KEY
from .fakes import CopilotExchange, SubscriptionFake, TokenServer

OLD = "access-old-token-0000000001"
NEW = "access-renewed-0001-xxxxxxxx"
REFRESH = "refresh-original-00000001"
ROTATED = "refresh-rotated-0001-yyyyyyyy"
MESSAGES = [{"role": "user", "content": "hi"}]
REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Clock:
    """A settable Unix clock shared by the gateway and the fakes."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def token_file(path: Path, *, access: str = OLD, refresh: str = REFRESH, expires_at: float | None = None) -> str:
    path.write_text(json.dumps({"access_token": access, "refresh_token": refresh, "expires_at": expires_at}))
    path.chmod(0o600)
    return str(path)


def provider(*files: str, **extra: Any) -> dict[str, Any]:
    return {
        "protocol": "openai_chat",
        "base_url": "http://fake/plain/v1",
        "token_url": "http://fake/auth/token",
        "client_id": "client-x",
        "credentials": [{"oauth_file": f} for f in files],
        **extra,
    }


def app(fake: SubscriptionFake, providers: dict[str, Any], **options: Any) -> RotatorASGI:
    config = {"providers": providers, "auth": {"api_keys": [PROXY_KEY]}, **options.pop("config", {})}
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=fake), **options)


def sdk(gateway: RotatorASGI) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=client, max_retries=0)


async def ask(gateway: RotatorASGI, model: str = "sub/m") -> str:
    completion = await sdk(gateway).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    return completion.choices[0].message.content or ""


async def credential_rows(gateway: RotatorASGI) -> list[dict[str, Any]]:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    reply = await client.get("http://gw/rotator/credentials", headers={"authorization": f"Bearer {PROXY_KEY}"})
    return reply.json()["credentials"]


def fake_with_tokens(**server: Any) -> tuple[SubscriptionFake, TokenServer]:
    fake = SubscriptionFake()
    tokens = TokenServer(live={REFRESH: "client-x"}, **server)
    fake.tokens["/auth/token"] = tokens
    return fake, tokens


async def test_an_expired_token_is_renewed_once_under_five_concurrent_requests_and_saved(tmp_path: Path) -> None:
    fake, tokens = fake_with_tokens()
    path = token_file(tmp_path / "cred.json", expires_at=time.time() - 10)
    inode = os.stat(path).st_ino
    gateway = app(fake, {"sub": provider(path)})

    answers = await asyncio.gather(*(ask(gateway) for _ in range(5)))

    assert answers == ["Hello from the fake upstream."] * 5
    assert tokens.calls == 1
    assert fake.upstream.keys_used() == [NEW] * 5
    saved = json.loads(Path(path).read_text())
    assert (saved["access_token"], saved["refresh_token"]) == (NEW, ROTATED)
    assert abs(saved["expires_at"] - (time.time() + 3600)) < 60
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path).st_ino != inode  # replaced by a rename, never rewritten in place
    assert os.listdir(tmp_path) == ["cred.json"]  # no temp file left behind
    refresh = fake.calls_to("/auth/token")[0].body
    assert "grant_type=refresh_token" in refresh and "client_id=client-x" in refresh


async def test_a_token_expiring_within_five_minutes_is_renewed_before_use(tmp_path: Path) -> None:
    fake, tokens = fake_with_tokens()
    gateway = app(fake, {"sub": provider(token_file(tmp_path / "c.json", expires_at=time.time() + 200))})
    await ask(gateway)
    assert tokens.calls == 1 and fake.upstream.keys_used() == [NEW]


async def test_a_401_mid_life_renews_the_token_and_retries_once(tmp_path: Path) -> None:
    fake, tokens = fake_with_tokens()
    fake.upstream.on_key(OLD, Reply(status=401, error_message="token revoked"))
    gateway = app(fake, {"sub": provider(token_file(tmp_path / "c.json", expires_at=time.time() + 3600))})

    assert await ask(gateway) == "Hello from the fake upstream."
    assert tokens.calls == 1
    assert fake.upstream.keys_used() == [OLD, NEW]


async def test_a_second_401_after_renewal_benches_the_credential_and_another_serves(tmp_path: Path) -> None:
    fake, tokens = fake_with_tokens()
    fake.upstream.on_key(OLD, Reply(status=401))
    fake.upstream.on_key(NEW, Reply(status=401))
    bad = token_file(tmp_path / "bad.json", expires_at=time.time() + 3600)
    good = token_file(tmp_path / "good.json", access="access-good-000000001", refresh="refresh-good-0000001")
    gateway = app(fake, {"sub": provider(bad, good, selection="sequential")})

    assert await ask(gateway) == "Hello from the fake upstream."
    assert fake.upstream.keys_used() == [OLD, NEW, "access-good-000000001"]
    rows = {row["credential"]: row for row in await credential_rows(gateway)}
    assert rows["oauth:bad.json"]["state"] == "benched"
    assert rows["oauth:good.json"]["state"] == "available"


async def test_a_dead_refresh_token_benches_only_that_credential(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, tokens = fake_with_tokens()
    dead = token_file(tmp_path / "dead.json", refresh="refresh-dead-00000000001", expires_at=1)
    alive = token_file(tmp_path / "alive.json", access="access-alive-00000000001", expires_at=time.time() + 3600)
    gateway = app(fake, {"sub": provider(dead, alive)})

    with caplog.at_level(logging.WARNING, logger="asgi_rotator"):
        answers = [await ask(gateway) for _ in range(4)]

    assert answers == ["Hello from the fake upstream."] * 4
    assert fake.upstream.keys_used() == ["access-alive-00000000001"] * 4
    assert tokens.calls == 1  # benched: not hammered again
    rows = {row["credential"]: row for row in await credential_rows(gateway)}
    assert rows["oauth:dead.json"]["state"] == "benched"
    assert rows["oauth:alive.json"]["state"] == "available"
    assert f"OAuth credential {dead}: the token endpoint refused it (400: invalid_grant" in caplog.text
    assert "refresh-dead-00000000001" not in caplog.text  # the endpoint echoed it; the log does not


async def test_a_missing_file_benches_that_credential_with_a_message_naming_it(tmp_path: Path) -> None:
    fake, _ = fake_with_tokens()
    alive = token_file(tmp_path / "alive.json", access="access-alive-00000000001", expires_at=time.time() + 3600)
    missing = str(tmp_path / "missing.json")
    gateway = app(fake, {"sub": provider(missing, alive, selection="sequential")})

    assert await ask(gateway) == "Hello from the fake upstream."
    rows = {row["credential"]: row for row in await credential_rows(gateway)}
    assert rows["oauth:missing.json"]["state"] == "benched"
    assert rows["oauth:missing.json"]["oauth"]["error"].startswith(f"OAuth credential file {missing}: cannot be read")


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_replicas_sharing_a_backend_renew_once(tmp_path: Path, backend: str) -> None:
    fake, tokens = fake_with_tokens()
    path = token_file(tmp_path / "cred.json", expires_at=time.time() - 10)
    if backend == "memory":
        shared = MemoryBackend()
        replicas = [app(fake, {"sub": provider(path)}, backend=shared) for _ in range(2)]
    else:
        state = {"backend": "redis", "url": REDIS_URL, "prefix": f"oauth-{uuid.uuid4().hex[:8]}:"}
        replicas = [app(fake, {"sub": provider(path)}, config={"state": state}) for _ in range(2)]

    await asyncio.gather(*(ask(replica) for replica in replicas for _ in range(5)))
    for replica in replicas:
        await replica.shutdown()

    assert tokens.calls == 1
    assert fake.upstream.keys_used() == [NEW] * 10


@pytest.mark.parametrize("shared", [True, False], ids=["encrypted_sharing", "no_encryption_key"])
async def test_a_rotated_refresh_token_reaches_the_other_replica_only_encrypted(tmp_path: Path, shared: bool) -> None:
    fake, tokens = fake_with_tokens()
    clock = Clock()
    path = token_file(tmp_path / "cred.json", expires_at=clock.now + 3600)
    backend = MemoryBackend()
    key = Fernet.generate_key().decode()
    options: dict[str, Any] = {"config": {"state": {"encryption_key": key}}} if shared else {}
    first, second = (app(fake, {"sub": provider(path)}, backend=backend, clock=clock, **options) for _ in range(2))
    await ask(first), await ask(second)  # both replicas hold the file's tokens
    stale = Path(path).read_text()
    stat = os.stat(path)

    clock.now += 3400  # within five minutes of expiry
    await ask(first)  # renews, and the refresh token rotates
    # The second replica does not see the first one's file (another machine): its copy is the old one.
    Path(path).write_text(stale)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    if shared:
        assert await ask(second) == "Hello from the fake upstream."
        assert tokens.calls == 1
        assert fake.upstream.keys_used()[-1] == NEW
        blobs = [value for key, (value, _) in backend._values.items() if ":oauth:" in key]
        assert blobs and all(NEW.encode() not in blob and ROTATED.encode() not in blob for blob in blobs)
    else:
        with pytest.raises(openai.APIStatusError):
            await ask(second)  # its old refresh token was already used: the endpoint refuses it
        assert tokens.calls == 2


async def test_the_copilot_exchange_happens_once_per_token_life(tmp_path: Path) -> None:
    clock = Clock()
    fake = SubscriptionFake()
    github = "ghu_" + "g" * 36
    exchange = CopilotExchange({github}, api="http://fake/copilot", life=1800, clock=clock)
    fake.tokens["/github/copilot_internal/v2/token"] = exchange
    copilot = {
        "protocol": "openai_chat",
        "base_url": "http://unused.invalid",
        "token_flow": "copilot_exchange",
        "token_url": "http://fake/github/copilot_internal/v2/token",
        "credential_base_url": True,
        "headers": {"copilot-integration-id": "vscode-chat", "editor-version": "vscode/1.107.0"},
        "adapters": ["copilot"],
        "credentials": [github],
    }
    gateway = app(fake, {"cp": copilot}, clock=clock)

    await asyncio.gather(*(ask(gateway, "cp/gpt-4.1") for _ in range(5)))
    for _ in range(3):
        await ask(gateway, "cp/gpt-4.1")
    assert exchange.calls == 1

    clock.now += 1800 - 200  # the Copilot token expires within five minutes
    await ask(gateway, "cp/gpt-4.1")
    assert exchange.calls == 2
    assert fake.upstream.keys_used() == [exchange.issued[0]] * 8 + [exchange.issued[1]]


async def test_credential_rows_show_expiry_and_last_refresh_and_no_token(tmp_path: Path) -> None:
    fake, _ = fake_with_tokens()
    gateway = app(fake, {"sub": provider(token_file(tmp_path / "c.json", expires_at=time.time() - 5))})
    await ask(gateway)
    rows = await credential_rows(gateway)
    oauth = rows[0]["oauth"]
    assert 3500 < oauth["expires_in"] <= 3600
    assert abs(oauth["last_refresh"] - time.time()) < 60
    assert all(token not in json.dumps(rows) for token in (OLD, NEW, REFRESH, ROTATED))


async def test_no_token_reaches_a_trace_a_log_or_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake, _ = fake_with_tokens()
    fake.upstream.on_key(OLD, Reply(status=401, error_message=f"token {OLD} revoked"))  # echoes the token
    fake.upstream.on_key(NEW, Reply(text=f"you called with {NEW}"))  # an answer that quotes the renewed token
    dead = token_file(
        tmp_path / "dead.json", access="access-dead-0000000001", refresh="refresh-dead-000000001", expires_at=1
    )
    trace_dir = tmp_path / "traces"
    config = {"trace": {"enabled": True, "dir": str(trace_dir)}}
    renewing = app(
        fake, {"sub": provider(token_file(tmp_path / "c.json", expires_at=time.time() + 3600))}, config=config
    )
    dying = app(fake, {"sub": provider(dead)}, config=config)

    with caplog.at_level(logging.DEBUG, logger="asgi_rotator"):
        assert await ask(renewing) == f"you called with {NEW}"
        with pytest.raises(openai.APIStatusError) as failed:
            await ask(dying)
        await renewing.shutdown()
        await dying.shutdown()

    tokens = (OLD, NEW, REFRESH, ROTATED, "access-dead-0000000001", "refresh-dead-000000001")
    traces = "".join(p.read_text() for p in trace_dir.rglob("*.jsonl"))
    assert "oauth_token_rejected" in traces and "you called with [redacted]" in traces
    body = failed.value.response.text
    assert failed.value.status_code == 502
    for token in tokens:
        assert token not in traces, token
        assert token not in caplog.text, token
        assert token not in body, token
