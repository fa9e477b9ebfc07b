"""``asgi-rotator login``: each flow against a fake authorization server, the file it writes, and the gateway
serving from that file; ``asgi-rotator keys`` showing an OAuth credential's expiry and last refresh."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from asgi_rotator import cli
from asgi_rotator.catalogue.subscriptions import SUBSCRIPTION_PRESETS
from asgi_rotator.errors import LoginError
from asgi_rotator.http.asgi import read_body
from asgi_rotator.login.flows import login
from asgi_rotator.login.specs import LOGINS

from ..conftest import PROXY_KEY, SECRETS
from .clients import CLIENTS
from .fakes import CopilotExchange, SubscriptionFake, jwt

Handler = Callable[[dict[str, Any], dict[str, str]], Awaitable[tuple[int, dict[str, Any]]]]


class AuthServer:
    """A fake authorization server: path -> handler(fields, headers) -> (status, JSON)."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive, limit=1 << 30)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if headers.get("content-type", "").startswith("application/json"):
            fields = json.loads(body)
        else:
            fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self.seen.append((scope["path"], fields))
        status, answer = await self.routes[scope["path"]](fields, headers)
        data = json.dumps(answer).encode()
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": data})


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def no_wait(seconds: float) -> None:
    return None


async def test_copilot_device_login_writes_a_github_token_the_gateway_exchanges(tmp_path: Path, gateway: Any) -> None:
    polls = iter(
        [
            (200, {"error": "authorization_pending"}),
            (200, {"error": "slow_down"}),
            (200, {"access_token": "gho_" + "d" * 36, "token_type": "bearer"}),
        ]
    )

    async def device_code(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert fields == {"client_id": "Iv1.b507a08c87ecfe98", "scope": "read:user"}
        return 200, {
            "device_code": "dev-1",
            "user_code": "ABCD-1234",
            "verification_uri": "https://github.com/login/device",
            "interval": 5,
            "expires_in": 900,
        }

    async def access_token(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert (
            fields["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code" and fields["device_code"] == "dev-1"
        )
        return next(polls)

    server = AuthServer({"/login/device/code": device_code, "/login/oauth/access_token": access_token})
    spec = replace(
        LOGINS["copilot"], device_url="http://gh/login/device/code", token_url="http://gh/login/oauth/access_token"
    )
    said: list[str] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    path = tmp_path / "copilot.json"
    await login(spec, str(path), say=said.append, sleep=sleep, transport=httpx.ASGITransport(app=server))

    assert said == ["Open https://github.com/login/device and enter the code ABCD-1234"]
    assert waits == [5, 5, 10]  # slow_down adds five seconds
    assert json.loads(path.read_text()) == {"refresh_token": "gho_" + "d" * 36}
    assert os.stat(path).st_mode & 0o777 == 0o600

    SECRETS.add("gho_" + "d" * 36)
    fake = SubscriptionFake()
    fake.tokens["/github/copilot_internal/v2/token"] = CopilotExchange({"gho_" + "d" * 36}, api="http://fake/copilot")
    provider = {
        **SUBSCRIPTION_PRESETS["copilot"],
        "token_url": "http://fake/github/copilot_internal/v2/token",
        "credentials": [{"oauth_file": str(path)}],
    }
    base = gateway({"providers": {"copilot": provider}}, upstream_transport=httpx.ASGITransport(app=fake))
    assert CLIENTS["openai_chat"](base, "copilot/gpt-4.1", False) == "Hello from the fake upstream."


async def test_qwen_device_login_proves_its_pkce_verifier(tmp_path: Path) -> None:
    challenge: dict[str, str] = {}
    pending = iter([True, False])

    async def device_code(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert fields["code_challenge_method"] == "S256"
        challenge["value"] = fields["code_challenge"]
        return 200, {
            "device_code": "d",
            "user_code": "U",
            "verification_uri_complete": "https://chat.qwen.ai/authorize?user_code=U",
            "expires_in": 600,
        }

    async def token(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if next(pending):
            return 400, {"error": "authorization_pending"}
        assert challenge_of(fields["code_verifier"]) == challenge["value"]
        return 200, {
            "access_token": "qwen-at",
            "refresh_token": "qwen-rt",
            "expires_in": 21600,
            "resource_url": "portal.qwen.ai",
        }

    server = AuthServer({"/device/code": device_code, "/token": token})
    spec = replace(LOGINS["qwen_code"], device_url="http://q/device/code", token_url="http://q/token")
    path = tmp_path / "qwen.json"
    await login(spec, str(path), say=lambda _: None, sleep=no_wait, transport=httpx.ASGITransport(app=server))
    saved = json.loads(path.read_text())
    assert (saved["access_token"], saved["refresh_token"], saved["resource_url"]) == (
        "qwen-at",
        "qwen-rt",
        "portal.qwen.ai",
    )
    assert abs(saved["expires_at"] - (time.time() + 21600)) < 60


async def test_codex_device_login_exchanges_the_code_and_keeps_the_account(tmp_path: Path) -> None:
    polls = iter([403, 200])
    id_token = jwt({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-login"}})

    async def usercode(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert fields == {"client_id": "app_EMoamEEZ73f0CkXaXp7hrann"}
        return 200, {"device_auth_id": "dai-1", "usercode": "CODE-1", "interval": "5"}

    async def device_token(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert fields == {"device_auth_id": "dai-1", "user_code": "CODE-1"}
        status = next(polls)
        return (status, {"authorization_code": "ac-1", "code_verifier": "cv-1"} if status == 200 else {})

    async def oauth_token(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert (
            fields["grant_type"] == "authorization_code"
            and fields["code"] == "ac-1"
            and fields["code_verifier"] == "cv-1"
        )
        assert fields["redirect_uri"] == "http://oa/deviceauth/callback"
        return 200, {"id_token": id_token, "access_token": jwt({"exp": 1900000000}), "refresh_token": "rt-1"}

    server = AuthServer(
        {
            "/api/accounts/deviceauth/usercode": usercode,
            "/api/accounts/deviceauth/token": device_token,
            "/oauth/token": oauth_token,
        }
    )
    spec = replace(
        LOGINS["codex"], device_url="http://oa/api/accounts/deviceauth/usercode", token_url="http://oa/oauth/token"
    )
    path = tmp_path / "codex.json"
    await login(spec, str(path), say=lambda _: None, sleep=no_wait, transport=httpx.ASGITransport(app=server))
    saved = json.loads(path.read_text())
    assert (
        saved["account_id"] == "acct-login" and saved["expires_at"] == 1900000000 and saved["refresh_token"] == "rt-1"
    )


@pytest.mark.parametrize("preset", ["claude_code", "gemini_cli"])
async def test_pkce_login_takes_the_loopback_redirect_and_exchanges_the_code(tmp_path: Path, preset: str) -> None:
    spec = replace(LOGINS[preset], authorize_url="http://auth/authorize", token_url="http://auth/token", port=0)
    sent: dict[str, Any] = {}

    async def token(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        expected_type = "application/json" if preset == "claude_code" else "application/x-www-form-urlencoded"
        assert headers["content-type"].startswith(expected_type)
        assert fields["grant_type"] == "authorization_code" and fields["code"] == "the-code"
        assert challenge_of(fields["code_verifier"]) == sent["code_challenge"]
        assert fields["redirect_uri"] == sent["redirect_uri"]
        assert ("state" in fields) == (preset == "claude_code")
        assert ("client_secret" in fields) == (preset == "gemini_cli")
        return 200, {"access_token": "at-pkce", "refresh_token": "rt-pkce", "expires_in": 3600}

    server = AuthServer({"/token": token})

    async def browser(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        sent.update(query)
        assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
        assert query["redirect_uri"].startswith("http://localhost:")
        redirect = query["redirect_uri"].replace("localhost", "127.0.0.1")
        async with httpx.AsyncClient() as client:  # the provider's redirect, as the browser follows it
            assert (await client.get(redirect, params={"code": "the-code", "state": query["state"]})).status_code == 200

    path = tmp_path / f"{preset}.json"
    await login(spec, str(path), say=lambda _: None, transport=httpx.ASGITransport(app=server), on_listening=browser)
    saved = json.loads(path.read_text())
    assert (saved["access_token"], saved["refresh_token"]) == ("at-pkce", "rt-pkce")


async def test_pkce_login_refuses_a_redirect_with_the_wrong_state(tmp_path: Path) -> None:
    spec = replace(LOGINS["gemini_cli"], authorize_url="http://auth/authorize", token_url="http://auth/token", port=0)

    async def forged(url: str) -> None:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0].replace("localhost", "127.0.0.1")
        async with httpx.AsyncClient() as client:
            await client.get(redirect, params={"code": "c", "state": "forged"})

    with pytest.raises(LoginError, match="wrong state"):
        await login(spec, str(tmp_path / "x.json"), say=lambda _: None, on_listening=forged)
    assert not (tmp_path / "x.json").exists()


def test_keys_shows_an_oauth_credentials_expiry_and_last_refresh(
    gateway: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cred.json"
    path.write_text(
        json.dumps(
            {"access_token": "access-keys-0000000001", "expires_at": time.time() + 7200, "last_refresh": 1767323045}
        )
    )
    SECRETS.add("access-keys-0000000001")
    provider = {
        "protocol": "openai_chat",
        "base_url": "http://fake/plain/v1",
        "credentials": [{"oauth_file": str(path)}],
    }
    base = gateway({"providers": {"sub": provider}}, upstream_transport=httpx.ASGITransport(app=SubscriptionFake()))

    assert cli.main(["keys", "--url", base, "--key", PROXY_KEY]) == 0
    out = capsys.readouterr().out
    assert "oauth:cred.json" in out and "2.0h, refreshed 2026-01-02 03:04Z" in out
    assert "access-keys-0000000001" not in out


def test_the_login_command_runs_the_flow_against_overridden_endpoints(
    _upstream_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def device_code(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return 200, {
            "device_code": "d",
            "user_code": "WXYZ-0000",
            "verification_uri": "https://github.com/login/device",
            "interval": 0,
        }

    async def access_token(fields: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return 200, {"access_token": "gho_" + "c" * 36}

    swappable, url = _upstream_server
    swappable.app = AuthServer({"/login/device/code": device_code, "/login/oauth/access_token": access_token})
    out = tmp_path / "copilot.json"
    argv = [
        "login",
        "copilot",
        "--out",
        str(out),
        "--device-url",
        f"{url}/login/device/code",
        "--token-url",
        f"{url}/login/oauth/access_token",
    ]

    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "WXYZ-0000" in printed and f"oauth_file: {out}" in printed
    assert "gho_" not in printed
    assert json.loads(out.read_text()) == {"refresh_token": "gho_" + "c" * 36}


def test_check_lists_oauth_files_and_says_which_are_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    present = tmp_path / "present.json"
    present.write_text("{}")
    config = tmp_path / "config.json"
    credentials = [{"oauth_file": str(present)}, {"oauth_file": str(tmp_path / "gone.json")}]
    config.write_text(
        json.dumps(
            {"providers": {"sub": {"protocol": "openai_chat", "base_url": "http://x/v1", "credentials": credentials}}}
        )
    )
    assert cli.main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"oauth:{present}," in out and f"oauth:{tmp_path / 'gone.json'} (missing)" in out
