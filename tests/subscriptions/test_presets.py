"""Every subscription preset, through every client SDK, reaches a fake of its backend that checks what the real
one checks (auth, headers, body rules, the Code Assist envelope), with tokens from real-shaped credential files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_rotator.catalogue.subscriptions import SUBSCRIPTION_PRESETS
from asgi_rotator.upstream import token_endpoint

from ..conftest import SECRETS
from .clients import CLIENTS, SYSTEM
from .fakes import CLAUDE_IDENTITY, CopilotExchange, SubscriptionFake, TokenServer, jwt

FAKE = "http://fake"
HELLO = "Hello from the fake upstream."


def _file(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return str(path)


def _secret(*values: str) -> None:
    SECRETS.update(values)  # the suite's trace scan fails if any of these reach a trace file


def claude_code(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    access, refresh = "sk-ant-oat01-" + "a" * 40, "sk-ant-ort01-" + "r" * 40
    _secret(access, refresh)
    doc = {
        "claudeAiOauth": {"accessToken": access, "refreshToken": refresh, "expiresAt": int(time.time() + 3600) * 1000}
    }
    return {"base_url": f"{FAKE}/claude", "credentials": [{"oauth_file": _file(tmp / "claude.json", doc)}]}, access


def codex(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    auth = {"https://api.openai.com/auth": {"chatgpt_account_id": "acct-codex-1", "chatgpt_plan_type": "plus"}}
    access = jwt({"exp": int(time.time()) + 3600, **auth})
    tokens = {
        "id_token": jwt({"email": "a@b.c", **auth}),
        "access_token": access,
        "refresh_token": "rt-codex-" + "q" * 30,
    }
    _secret(access, tokens["refresh_token"], tokens["id_token"])
    doc = {"auth_mode": "chatgpt", "OPENAI_API_KEY": None, "tokens": tokens, "last_refresh": "2026-01-01T00:00:00Z"}
    return {"base_url": f"{FAKE}/codex", "credentials": [{"oauth_file": _file(tmp / "auth.json", doc)}]}, access


def copilot(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    github = "ghu_" + "g" * 36
    _secret(github)
    exchange = CopilotExchange({github}, api=f"{FAKE}/copilot")
    fake.tokens["/github/copilot_internal/v2/token"] = exchange
    provider = {"token_url": f"{FAKE}/github/copilot_internal/v2/token", "credentials": [github]}
    return provider, "tid=copilot-0001;exp=zzzzzzzz"


def gemini_cli(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    access = "ya29.gemini-access-" + "x" * 30
    _secret(access, "1//gemini-refresh-token")
    doc = {
        "access_token": access,
        "refresh_token": "1//gemini-refresh-token",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "token_type": "Bearer",
        "expiry_date": int(time.time() + 3600) * 1000,
    }
    fake.onboarded_after = 1  # a new account: onboarding runs, as gemini-cli's setup does
    return {
        "base_url": f"{FAKE}/codeassist",
        "credentials": [{"oauth_file": _file(tmp / "oauth_creds.json", doc)}],
    }, access


def antigravity(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    access = "ya29.antigravity-access-" + "x" * 30
    _secret(access)
    doc = {"access_token": access, "refresh_token": "1//ag-refresh-0000000", "expired": "2099-01-01T00:00:00Z"}
    doc["project_id"] = fake.project
    return {"base_url": f"{FAKE}/codeassist", "credentials": [{"oauth_file": _file(tmp / "ag.json", doc)}]}, access


def qwen_code(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    access = "qwen-access-" + "x" * 30
    _secret(access)
    doc = {
        "access_token": access,
        "refresh_token": "qwen-refresh-00000000",
        "token_type": "Bearer",
        "resource_url": "fake/qwen",
        "expiry_date": int(time.time() + 3600) * 1000,
    }
    provider = {"credentials": [{"oauth_file": _file(tmp / "qwen.json", doc)}]}
    return provider, access


def iflow(tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    server = TokenServer(
        live={"iflow-refresh-000000000": "10009311001"},
        basic=("10009311001", "4Z3YjXycVsQvyGF1etiNlIBB4RsqSDtW"),
        client_secret="4Z3YjXycVsQvyGF1etiNlIBB4RsqSDtW",
        rotate=False,
        delay=0,
    )
    fake.tokens["/iflow-auth/oauth/token"] = server
    fake.iflow_keys["access-renewed-0001-xxxxxxxx"] = "sk-iflow-apikey-" + "k" * 24
    _secret("iflow-refresh-000000000", "sk-iflow-apikey-" + "k" * 24, "access-renewed-0001-xxxxxxxx")
    doc = {"access_token": "iflow-expired-access-00", "refresh_token": "iflow-refresh-000000000", "expires_at": 1}
    provider = {"base_url": f"{FAKE}/iflow/v1", "token_url": f"{FAKE}/iflow-auth/oauth/token"}
    provider["credentials"] = [{"oauth_file": _file(tmp / "i.json", doc)}]
    return provider, "sk-iflow-apikey-" + "k" * 24


SETUPS: dict[str, Callable[[Path, SubscriptionFake], tuple[dict[str, Any], str]]] = {
    "claude_code": claude_code,
    "codex": codex,
    "copilot": copilot,
    "gemini_cli": gemini_cli,
    "antigravity": antigravity,
    "qwen_code": qwen_code,
    "iflow": iflow,
}
PREFIX = {
    "claude_code": "/claude/",
    "codex": "/codex/",
    "copilot": "/copilot/",
    "gemini_cli": "/codeassist/v1internal:",
    "antigravity": "/codeassist/v1internal:",
    "qwen_code": "/qwen/",
    "iflow": "/iflow/",
}


def configure(preset: str, tmp: Path, fake: SubscriptionFake) -> tuple[dict[str, Any], str]:
    """The preset's fields with the test's URLs and credentials written over them (as ``preset:`` would)."""
    overrides, token = SETUPS[preset](tmp, fake)
    return {"providers": {preset: {**SUBSCRIPTION_PRESETS[preset], **overrides}}}, token


@pytest.fixture(autouse=True)
def _quick_onboarding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_endpoint, "ONBOARD_POLL", {"gemini_cli": 0.0, "antigravity": 0.0})


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("preset", list(SUBSCRIPTION_PRESETS))
def test_each_preset_reaches_its_backend_through_every_client(
    preset: str, client: str, stream: bool, gateway: Any, tmp_path: Path
) -> None:
    fake = SubscriptionFake()
    config, token = configure(preset, tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))

    assert CLIENTS[client](base, f"{preset}/some-model", stream) == HELLO

    calls = fake.calls_to(PREFIX[preset])
    generate = [c for c in calls if "loadCodeAssist" not in c.path and "onboardUser" not in c.path]
    assert len(generate) == 1, [c.path for c in calls]
    sent = generate[0]
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert fake.upstream.requests[-1].key == token  # the unwrapped request reached the protocol fake


def test_claude_code_sends_the_identity_first_and_keeps_the_clients_betas(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    config, _ = configure("claude_code", tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))
    import anthropic

    from ..conftest import PROXY_KEY

    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        client.messages.create(
            model="claude_code/claude-sonnet-4-6",
            max_tokens=64,
            system="Be terse.",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"anthropic-beta": "context-management-2025-06-27"},
        )
    sent = fake.calls_to("/claude/")[0]
    assert [b["text"] for b in sent.body["system"]] == [CLAUDE_IDENTITY, "Be terse."]
    betas = sent.headers["anthropic-beta"].split(",")
    assert {"oauth-2025-04-20", "context-management-2025-06-27"} <= set(betas)
    assert sent.headers["user-agent"].startswith("claude-cli/") and sent.headers["x-app"] == "cli"
    assert "x-api-key" not in sent.headers


def test_claude_code_sends_an_api_key_as_x_api_key() -> None:
    from asgi_rotator.config.models import ProviderConfig
    from asgi_rotator.protocols import get_protocol
    from asgi_rotator.upstream.auth import auth_headers

    provider = ProviderConfig.model_validate(SUBSCRIPTION_PRESETS["claude_code"])
    protocol = get_protocol("anthropic_messages")
    assert auth_headers(provider, protocol, "sk-ant-api03-abc") == {"x-api-key": "sk-ant-api03-abc"}
    assert auth_headers(provider, protocol, "sk-ant-oat01-abc") == {"authorization": "Bearer sk-ant-oat01-abc"}


def test_codex_sends_the_account_and_the_backends_body_rules(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    config, _ = configure("codex", tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))
    assert CLIENTS["openai_responses"](base, "codex/gpt-5.4", False) == HELLO
    sent = fake.calls_to("/codex/")[0]
    assert sent.headers["chatgpt-account-id"] == "acct-codex-1"
    assert sent.headers["originator"] == "codex_cli_rs"
    body = sent.body
    assert body["store"] is False and body["stream"] is True
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["instructions"] == SYSTEM
    assert "max_output_tokens" not in body


def test_copilot_marks_who_started_the_turn_and_turns_developer_into_system(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    config, _ = configure("copilot", tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))
    assert CLIENTS["openai_chat"](base, "copilot/gpt-4.1", False) == HELLO
    sent = fake.calls_to("/copilot/")[0]
    assert sent.headers["x-initiator"] == "user"
    assert sent.headers["copilot-integration-id"] == "vscode-chat"
    assert sent.headers["editor-version"].startswith("vscode/")
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    exchange = fake.calls_to("/github/")[0]
    assert exchange.method == "GET" and exchange.headers["authorization"] == "token " + "ghu_" + "g" * 36


def test_gemini_cli_onboards_once_and_saves_the_project(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    config, _ = configure("gemini_cli", tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))
    for stream in (False, True):
        assert CLIENTS["gemini"](base, "gemini_cli/gemini-2.5-pro", stream) == HELLO
    assert len(fake.calls_to("/codeassist/v1internal:loadCodeAssist")) == 1
    assert len(fake.calls_to("/codeassist/v1internal:onboardUser")) == 1
    saved = json.loads((tmp_path / "oauth_creds.json").read_text())
    assert saved["project_id"] == fake.project and "expiry_date" in saved  # still gemini-cli's own shape
    envelope = fake.calls_to("/codeassist/v1internal:generateContent")[0].body
    assert envelope["model"] == "gemini-2.5-pro" and envelope["project"] == fake.project
    assert envelope["request"]["systemInstruction"]["parts"][0]["text"] == SYSTEM


def test_antigravity_envelope_names_its_request_type(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    config, _ = configure("antigravity", tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))
    assert CLIENTS["anthropic"](base, "antigravity/claude-sonnet-4-6", True) == HELLO
    sent = fake.calls_to("/codeassist/v1internal:streamGenerateContent")[0]
    assert sent.query == {"alt": ["sse"]}
    assert sent.body["requestType"] == "agent" and sent.body["userAgent"] == "antigravity"
    assert sent.body["requestId"].startswith("agent-") and "safetySettings" not in sent.body["request"]
    assert sent.headers["user-agent"].startswith("antigravity/")


def test_qwen_code_takes_its_base_from_resource_url(gateway: Any, tmp_path: Path) -> None:
    fake = SubscriptionFake()
    config, _ = configure("qwen_code", tmp_path, fake)
    base = gateway(config, upstream_transport=httpx.ASGITransport(app=fake))
    assert CLIENTS["openai_chat"](base, "qwen_code/coder-model", False) == HELLO
    assert fake.calls_to("/qwen/v1/chat/completions")[0].headers["x-dashscope-authtype"] == "qwen-oauth"


def test_token_counts_go_through_the_presets_rules_too(gateway: Any, tmp_path: Path) -> None:
    import anthropic
    from google import genai
    from google.genai import types as gtypes

    from ..conftest import PROXY_KEY

    fake = SubscriptionFake()
    claude, _ = configure("claude_code", tmp_path, fake)
    gemini, _ = configure("gemini_cli", tmp_path, fake)
    base = gateway(
        {"providers": {**claude["providers"], **gemini["providers"]}}, upstream_transport=httpx.ASGITransport(app=fake)
    )

    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        counted = client.messages.count_tokens(
            model="claude_code/claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
        )
    assert counted.input_tokens > 0
    assert fake.calls_to("/claude/v1/messages/count_tokens")[0].query == {"beta": ["true"]}

    client = genai.Client(api_key=PROXY_KEY, http_options=gtypes.HttpOptions(base_url=base, api_version="v1beta"))
    assert client.models.count_tokens(model="gemini_cli/gemini-2.5-pro", contents="hello").total_tokens > 0
    client.close()
    sent = fake.calls_to("/codeassist/v1internal:countTokens")[0].body
    assert sent["request"]["model"] == "models/gemini-2.5-pro" and "project" not in sent
