"""Credential files in each official CLI's own shape: read with the right expiry units, written back in the same
shape; and the refresh body each token endpoint expects (JSON for Claude, a form for the others)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_rotator.catalogue.subscriptions import SUBSCRIPTION_PRESETS
from asgi_rotator.config.models import CredentialConfig
from asgi_rotator.credentials.oauth import files
from asgi_rotator.credentials.oauth.tokens import OAuthTokens
from asgi_rotator.errors import OAuthFileError

from .clients import CLIENTS
from .fakes import SubscriptionFake, TokenServer, jwt


def _write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "cred.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_claude_codes_file_has_its_expiry_in_milliseconds_and_keeps_its_other_fields(tmp_path: Path) -> None:
    inner = {"accessToken": "sk-ant-oat01-x", "refreshToken": "sk-ant-ort01-y", "expiresAt": 1761000000000}
    path = _write(tmp_path, {"claudeAiOauth": {**inner, "subscriptionType": "max", "scopes": ["user:inference"]}})
    read = files.read(path)
    assert (read.shape, read.tokens.expires_at, read.tokens.refresh_token) == ("claude", 1761000000.0, "sk-ant-ort01-y")

    files.write(read, OAuthTokens("sk-ant-oat01-new", "sk-ant-ort01-new", expires_at=1762000000.5))
    saved = json.loads(Path(path).read_text())["claudeAiOauth"]
    assert saved["accessToken"] == "sk-ant-oat01-new" and saved["expiresAt"] == 1762000000500
    assert saved["subscriptionType"] == "max" and saved["scopes"] == ["user:inference"]


def test_codex_file_takes_expiry_from_the_jwt_and_the_account_from_the_id_token(tmp_path: Path) -> None:
    claim = {"https://api.openai.com/auth": {"chatgpt_account_id": "acct-9"}}
    tokens = {"id_token": jwt(claim), "access_token": jwt({"exp": 1770000000}), "refresh_token": "rt"}
    read = files.read(
        _write(tmp_path, {"auth_mode": "chatgpt", "tokens": tokens, "last_refresh": "2026-01-02T03:04:05Z"})
    )
    assert read.shape == "codex"
    assert read.tokens.expires_at == 1770000000
    assert read.tokens.fields == {"account_id": "acct-9"}
    assert read.tokens.last_refresh == 1767323045.0


def test_google_and_qwen_files_have_expiry_date_in_milliseconds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"access_token": "a", "refresh_token": "r", "expiry_date": 1761000000000, "resource_url": "portal.qwen.ai"},
    )
    read = files.read(path)
    assert (read.shape, read.tokens.expires_at) == ("google", 1761000000.0)
    assert read.tokens.fields == {"resource_url": "portal.qwen.ai"}


def test_the_gateways_own_shape_takes_seconds_milliseconds_or_rfc3339(tmp_path: Path) -> None:
    for value, expected in (
        (1761000000, 1761000000.0),
        (1761000000000, 1761000000.0),
        ("2025-10-20T22:40:00Z", 1761000000.0),
    ):
        assert files.read(_write(tmp_path, {"access_token": "a", "expires_at": value})).tokens.expires_at == expected


def test_copilots_apps_json_gives_the_copilot_apps_github_token(tmp_path: Path) -> None:
    document = {
        "github.com:Ov23li8tweQw6odWQebz": {"user": "u", "oauth_token": "gho_other"},
        "github.com:Iv1.b507a08c87ecfe98": {
            "user": "u",
            "oauth_token": "ghu_copilot",
            "githubAppId": "Iv1.b507a08c87ecfe98",
        },
    }
    read = files.read(_write(tmp_path, document))
    assert (read.shape, read.tokens.refresh_token, read.tokens.access_token) == ("github", "ghu_copilot", "")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read"),
        ("{not json", "is not valid JSON"),
        ("[]", "is not a JSON object"),
        ("{}", "holds neither"),
    ],
)
def test_an_unusable_file_is_named_in_the_error(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "cred.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(OAuthFileError, match=f"OAuth credential file {path}: {problem}"):
        files.read(str(path))


def test_a_credential_has_a_key_or_an_oauth_file() -> None:
    with pytest.raises(ValueError, match="either key or oauth_file"):
        CredentialConfig.model_validate({"key": "sk-1", "oauth_file": "/x.json"})
    with pytest.raises(ValueError, match="either key or oauth_file"):
        CredentialConfig.model_validate({"priority": 1})


def test_tokens_do_not_show_in_a_repr() -> None:
    tokens = OAuthTokens("access-secret", "refresh-secret", id_token="id-secret", client_secret="cs-secret")
    assert "secret" not in repr(tokens)


def test_claude_code_refreshes_with_a_json_body_and_saves_in_claudes_shape(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    server = TokenServer(
        body="json", live={"sk-ant-ort01-" + "r" * 40: SUBSCRIPTION_PRESETS["claude_code"]["client_id"]}
    )
    server.access_tokens = lambda n: f"sk-ant-oat01-renewed-{n:04d}-" + "z" * 20
    fake.tokens["/claude-auth/v1/oauth/token"] = server
    inner = {
        "accessToken": "sk-ant-oat01-expired-" + "e" * 20,
        "refreshToken": "sk-ant-ort01-" + "r" * 40,
        "expiresAt": 1000,
    }
    path = _write(tmp_path, {"claudeAiOauth": inner})
    from ..conftest import SECRETS

    SECRETS.update(
        {inner["accessToken"], inner["refreshToken"], server.access_tokens(1), "refresh-rotated-0001-yyyyyyyy"}
    )
    provider = {
        **SUBSCRIPTION_PRESETS["claude_code"],
        "base_url": "http://fake/claude",
        "token_url": "http://fake/claude-auth/v1/oauth/token",
        "credentials": [{"oauth_file": path}],
    }
    base = gateway({"providers": {"claude_code": provider}}, upstream_transport=httpx.ASGITransport(app=fake))

    assert CLIENTS["anthropic"](base, "claude_code/claude-sonnet-4-6", False) == "Hello from the fake upstream."
    assert server.calls == 1
    sent = fake.calls_to("/claude-auth/")[0]
    assert sent.headers["content-type"] == "application/json" and sent.body["grant_type"] == "refresh_token"
    saved = json.loads(Path(path).read_text())["claudeAiOauth"]
    assert saved["accessToken"] == server.access_tokens(1) and saved["refreshToken"] == "refresh-rotated-0001-yyyyyyyy"
    assert abs(saved["expiresAt"] / 1000 - (time.time() + 3600)) < 60
