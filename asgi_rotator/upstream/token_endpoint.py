"""Calls to OAuth token endpoints: the refresh grant, GitHub Copilot's token exchange, iFlow's API-key lookup.

Every failure becomes an :class:`UpstreamError` whose message says what the endpoint answered (its ``error``
and ``error_description``), never a token: a 400/401/403 is ``authentication`` (the refresh token is dead,
the credential is benched until someone logs in again), a 429 ``rate_limit``, anything else transient.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx

from .. import _json
from ..config.models import ProviderConfig
from ..credentials.oauth.tokens import OAuthTokens, codex_account_id, epoch_seconds, jwt_claims
from ..errors import ErrorKind, UpstreamError
from ..retry_after import parse_retry_after

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Seconds between polls of a Code Assist onboarding operation, and how many polls before giving up.
ONBOARD_POLL = {"gemini_cli": 5.0, "antigravity": 2.0}
ONBOARD_POLLS = 12
_CODE_ASSIST_METADATA: dict[str, dict[str, str]] = {
    "gemini_cli": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"},
    "antigravity": {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"},
}


class TokenEndpoint:
    """Renews OAuth tokens over the gateway's upstream transport (so tests can point it at fakes)."""

    def __init__(self, transport: httpx.AsyncBaseTransport, *, clock: Callable[[], float] = time.time) -> None:
        self._transport = transport
        self._clock = clock

    async def renew(self, provider: ProviderConfig, tokens: OAuthTokens) -> OAuthTokens:
        """New tokens for ``tokens`` by the provider's ``token_flow``.

        Raises:
            UpstreamError: the endpoint refused or failed (see the module docstring for the kinds).
        """
        if provider.token_flow == "copilot_exchange":
            return await self._copilot(provider, tokens)
        renewed = await self._refresh(provider, tokens)
        if provider.token_flow == "iflow":
            renewed.api_key = await self._iflow_api_key(renewed, provider)
        return renewed

    async def discover_project(self, provider: ProviderConfig, tokens: OAuthTokens) -> str:
        """The Code Assist project of ``tokens``' account: ``loadCodeAssist``, then ``onboardUser`` (a
        long-running operation, polled) when the account has none yet.

        Raises:
            UpstreamError: ``authentication`` when the account is not eligible (the reason Google gives).
        """
        flavor = provider.project_discovery or "gemini_cli"
        metadata = _CODE_ASSIST_METADATA[flavor]
        base = f"{provider.base_url}/v1internal"
        loaded = await self._code_assist(provider, tokens, "POST", f"{base}:loadCodeAssist", {"metadata": metadata})
        project = _project_of(loaded.get("cloudaicompanionProject"))
        if project and loaded.get("currentTier"):
            return project
        tiers = [t for t in loaded.get("allowedTiers") or [] if isinstance(t, dict)]
        tier = next((t.get("id") for t in tiers if t.get("isDefault")), None)
        if tier is None:
            reasons = [t.get("reasonMessage") for t in loaded.get("ineligibleTiers") or [] if isinstance(t, dict)]
            if reasons:
                raise UpstreamError("authentication", f"Code Assist refuses this account: {reasons[0]}")
            tier = "legacy-tier" if flavor == "gemini_cli" else "free-tier"
        request = {"tierId": tier, "metadata": metadata}
        if project:
            request["cloudaicompanionProject"] = project
        operation = await self._code_assist(provider, tokens, "POST", f"{base}:onboardUser", request)
        for _ in range(ONBOARD_POLLS):
            if operation.get("done"):
                response = operation.get("response")
                found = _project_of(response.get("cloudaicompanionProject") if isinstance(response, dict) else None)
                if found:
                    return found
                break
            await asyncio.sleep(ONBOARD_POLL[flavor])
            name = operation.get("name")
            if flavor == "gemini_cli" and isinstance(name, str) and name:
                operation = await self._code_assist(provider, tokens, "GET", f"{base}/{name}", None)
            else:
                operation = await self._code_assist(provider, tokens, "POST", f"{base}:onboardUser", request)
        raise UpstreamError("authentication", "Code Assist onboarding gave no project; set project_id in the file")

    async def _code_assist(
        self, provider: ProviderConfig, tokens: OAuthTokens, method: str, url: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in provider.headers.items()}
        headers.update(
            {"authorization": f"Bearer {tokens.access_token}", "accept": "application/json"},
        )
        if body is not None:
            headers["content-type"] = "application/json"
        content = _json.dumps(body) if body is not None else None
        return await self._call(httpx.Request(method, url, headers=headers, content=content), tokens)

    async def _refresh(self, provider: ProviderConfig, tokens: OAuthTokens) -> OAuthTokens:
        url = tokens.token_url or provider.token_url
        if not tokens.refresh_token:
            raise UpstreamError("authentication", "it has no refresh_token and its access token expired")
        if not url:
            raise UpstreamError("authentication", "no token_url is known to refresh it (set the provider's token_url)")
        client_id = tokens.client_id or provider.client_id
        secret = tokens.client_secret or (provider.client_secret.get_secret_value() if provider.client_secret else None)
        fields = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        if client_id:
            fields["client_id"] = client_id
        if secret:
            fields["client_secret"] = secret
        if provider.token_scope:
            fields["scope"] = provider.token_scope
        headers = {"accept": "application/json"}
        if provider.token_body == "json":
            headers["content-type"] = "application/json"
            content = _json.dumps(fields)
        else:
            headers["content-type"] = "application/x-www-form-urlencoded"
            content = urlencode(fields).encode()
        if provider.token_auth == "basic" and client_id and secret:
            headers["authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        body = await self._call(httpx.Request("POST", url, headers=headers, content=content), tokens)
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise UpstreamError("upstream_invalid", "the token endpoint's answer has no access_token")
        now = self._clock()
        expires_at = _expiry(body, access, now)
        renewed = OAuthTokens(
            access_token=access,
            # Google keeps the refresh token; Claude, Codex and Qwen may rotate it (then the new one must be used).
            refresh_token=body.get("refresh_token") or tokens.refresh_token,
            expires_at=expires_at,
            id_token=body.get("id_token") or tokens.id_token,
            api_key=tokens.api_key,
            token_url=tokens.token_url,
            client_id=tokens.client_id,
            client_secret=tokens.client_secret,
            fields=dict(tokens.fields),
            last_refresh=now,
        )
        account = codex_account_id(renewed.id_token, access) if "account_id" in tokens.fields else None
        if account:
            renewed.fields["account_id"] = account
        if isinstance(body.get("resource_url"), str):
            renewed.fields["resource_url"] = body["resource_url"]
        return renewed

    async def _copilot(self, provider: ProviderConfig, tokens: OAuthTokens) -> OAuthTokens:
        github = tokens.refresh_token
        url = tokens.token_url or provider.token_url
        if not github or not url:
            raise UpstreamError("authentication", "a Copilot credential needs a GitHub token and a token_url")
        headers = {k.lower(): v for k, v in provider.headers.items()}
        headers.update({"authorization": f"token {github}", "accept": "application/json"})
        body = await self._call(httpx.Request("GET", url, headers=headers), tokens)
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise UpstreamError("authentication", "the Copilot token exchange gave no token (no Copilot seat?)")
        now = self._clock()
        fields = dict(tokens.fields)
        endpoints = body.get("endpoints")
        api = endpoints.get("api") if isinstance(endpoints, dict) else None
        if isinstance(api, str) and api:
            fields["api_base"] = api.rstrip("/")
        return OAuthTokens(
            access_token=token,
            refresh_token=github,
            expires_at=epoch_seconds(body.get("expires_at")) or now + float(body.get("refresh_in") or 1500),
            token_url=tokens.token_url,
            fields=fields,
            last_refresh=now,
        )

    async def _iflow_api_key(self, tokens: OAuthTokens, provider: ProviderConfig) -> str:
        # Beside the token endpoint: https://iflow.cn/oauth/token -> https://iflow.cn/api/oauth/getUserInfo
        url = (tokens.token_url or provider.token_url or "").removesuffix("/oauth/token") + "/api/oauth/getUserInfo"
        request = httpx.Request(
            "GET", url, params={"accessToken": tokens.access_token}, headers={"accept": "application/json"}
        )
        body = await self._call(request, tokens)
        data = body.get("data")
        key = data.get("apiKey") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            raise UpstreamError("authentication", "iFlow's getUserInfo gave no apiKey")
        return key

    async def _call(self, request: httpx.Request, tokens: OAuthTokens) -> dict[str, Any]:
        request.extensions["timeout"] = _TIMEOUT.as_dict()
        try:
            response = await self._transport.handle_async_request(request)
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise UpstreamError("timeout", "the token endpoint did not answer in time") from None
        except httpx.TransportError as exc:
            raise UpstreamError("api_connection", f"the token endpoint is unreachable ({type(exc).__name__})") from None
        try:
            body = _json.loads(raw) if raw else {}
        except _json.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        if 200 <= status < 300:
            return body
        said = _scrub(_described(body), tokens) or f"HTTP {status}"
        kind: ErrorKind
        if status in (400, 401, 403):
            kind = "authentication"
            message = f"the token endpoint refused it ({status}: {said}); log in again (asgi-rotator login)"
        elif status == 429:
            kind, message = "rate_limit", f"the token endpoint is rate limiting ({said})"
        else:
            kind, message = "server_error", f"the token endpoint failed ({status}: {said})"
        retry = parse_retry_after(response.headers, body) if status == 429 else None
        raise UpstreamError(kind, message, upstream_status=status, retry_after=retry)


def _project_of(value: Any) -> str | None:
    """A project as Code Assist names it: a string or ``{"id": ...}``."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _expiry(body: dict[str, Any], access: str, now: float) -> float | None:
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return now + float(expires_in)
    if isinstance(expires_in, str) and expires_in.isdigit():
        return now + float(expires_in)
    return epoch_seconds(jwt_claims(access).get("exp"))


def _described(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("type")
    parts = [str(p) for p in (error, body.get("error_description") or body.get("message")) if p]
    return ": ".join(parts)[:300]


def _scrub(text: str, tokens: OAuthTokens) -> str:
    for secret in tokens.secrets():
        text = text.replace(secret, "[redacted]")
    return text
