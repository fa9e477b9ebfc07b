"""How each subscription preset logs in: its flow, OAuth client and endpoints (sources in docs/subscriptions/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..catalogue.subscriptions import SUBSCRIPTION_PRESETS


@dataclass(frozen=True)
class LoginSpec:
    """One preset's login.

    ``flow`` is ``device`` (RFC 8628: a code the user enters on a web page), ``codex_device`` (OpenAI's own
    device flow, which ends in an authorization code), or ``pkce`` (a browser login that redirects to a
    loopback server this command runs).
    """

    flow: Literal["device", "codex_device", "pkce"]
    client_id: str
    token_url: str
    scope: str = ""
    client_secret: str | None = None
    #: device flows: where the device code is requested.
    device_url: str = ""
    #: codex_device: the page where the user enters the code.
    verify_url: str = ""
    #: pkce: the authorization page, the loopback port (0: any free one) and path, extra parameters.
    authorize_url: str = ""
    port: int = 0
    redirect_path: str = "/callback"
    params: Mapping[str, str] = field(default_factory=dict)
    #: How the code exchange's body is encoded; ``state_in_exchange`` sends ``state`` too (Claude).
    token_body: Literal["form", "json"] = "form"
    state_in_exchange: bool = False
    #: device: send a PKCE challenge with the device code request (Qwen).
    device_pkce: bool = False
    #: What the login yields: OAuth tokens, or a GitHub token to be exchanged later (Copilot).
    result: Literal["tokens", "github"] = "tokens"


def _preset(name: str, key: str) -> str:
    return str(SUBSCRIPTION_PRESETS[name][key])


_GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
_GOOGLE_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
    "https://www.googleapis.com/auth/userinfo.profile"
)

#: Login flows by preset (iFlow's service shut down in 2026-04, so it has none).
LOGINS: dict[str, LoginSpec] = {
    "claude_code": LoginSpec(
        "pkce",
        _preset("claude_code", "client_id"),
        _preset("claude_code", "token_url"),
        scope="user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload",
        authorize_url="https://claude.ai/oauth/authorize",
        port=54545,
        params={"code": "true"},
        token_body="json",
        state_in_exchange=True,
    ),
    "codex": LoginSpec(
        "codex_device",
        _preset("codex", "client_id"),
        _preset("codex", "token_url"),
        device_url="https://auth.openai.com/api/accounts/deviceauth/usercode",
        verify_url="https://auth.openai.com/codex/device",
    ),
    "copilot": LoginSpec(
        "device",
        "Iv1.b507a08c87ecfe98",
        "https://github.com/login/oauth/access_token",
        scope="read:user",
        device_url="https://github.com/login/device/code",
        result="github",
    ),
    "gemini_cli": LoginSpec(
        "pkce",
        _preset("gemini_cli", "client_id"),
        _preset("gemini_cli", "token_url"),
        scope=_GOOGLE_SCOPES,
        client_secret=_preset("gemini_cli", "client_secret"),
        authorize_url=_GOOGLE_AUTHORIZE,
        redirect_path="/oauth2callback",
        params={"access_type": "offline", "prompt": "consent"},
    ),
    "antigravity": LoginSpec(
        "pkce",
        _preset("antigravity", "client_id"),
        _preset("antigravity", "token_url"),
        scope=_GOOGLE_SCOPES
        + " https://www.googleapis.com/auth/cclog https://www.googleapis.com/auth/experimentsandconfigs",
        client_secret=_preset("antigravity", "client_secret"),
        authorize_url=_GOOGLE_AUTHORIZE,
        port=51121,
        redirect_path="/oauth-callback",
        params={"access_type": "offline", "prompt": "consent"},
    ),
    "qwen_code": LoginSpec(
        "device",
        _preset("qwen_code", "client_id"),
        _preset("qwen_code", "token_url"),
        scope="openid profile email model.completion",
        device_url="https://chat.qwen.ai/api/v1/oauth2/device/code",
        device_pkce=True,
    ),
}
