"""The credential-file shapes: the gateway's own and the official CLIs', each read into :class:`OAuthTokens`
and written back in its own shape (see :mod:`.files` for the table)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from .tokens import OAuthTokens, codex_account_id, epoch_seconds, jwt_claims

#: Provider fields a file may carry; they are not secrets and reach adapters (``Credential.fields``).
FIELDS = ("account_id", "project_id", "resource_url")


def shape_of(document: dict[str, Any]) -> str:
    """The shape ``document`` is in: rotator, claude, codex, google or github."""
    if isinstance(document.get("claudeAiOauth"), dict):
        return "claude"
    if isinstance(document.get("tokens"), dict):
        return "codex"
    if "access_token" not in document and any(
        isinstance(v, dict) and "oauth_token" in v for k, v in document.items() if "github" in k
    ):
        return "github"
    if "expiry_date" in document:
        return "google"
    return "rotator"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _fields(document: dict[str, Any]) -> dict[str, str]:
    return {name: str(document[name]) for name in FIELDS if document.get(name)}


def _import_rotator(doc: dict[str, Any]) -> OAuthTokens:
    return OAuthTokens(
        access_token=_str(doc.get("access_token")) or "",
        refresh_token=_str(doc.get("refresh_token")) or _str(doc.get("github_token")),
        expires_at=epoch_seconds(doc.get("expires_at", doc.get("expired"))),
        id_token=_str(doc.get("id_token")),
        api_key=_str(doc.get("api_key")),
        token_url=_str(doc.get("token_url")),
        client_id=_str(doc.get("client_id")),
        client_secret=_str(doc.get("client_secret")),
        fields=_fields(doc),
        last_refresh=epoch_seconds(doc.get("last_refresh")),
    )


def _export_rotator(doc: dict[str, Any], tokens: OAuthTokens) -> dict[str, Any]:
    doc.pop("expired", None)
    values: dict[str, Any] = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": None if tokens.expires_at is None else int(tokens.expires_at),
        "id_token": tokens.id_token,
        "api_key": tokens.api_key,
        "token_url": tokens.token_url,
        "client_id": tokens.client_id,
        "client_secret": tokens.client_secret,
        "last_refresh": None if tokens.last_refresh is None else int(tokens.last_refresh),
        **tokens.fields,
    }
    doc.update({k: v for k, v in values.items() if v not in (None, "")})
    return doc


def _import_claude(doc: dict[str, Any]) -> OAuthTokens:
    inner = doc["claudeAiOauth"]
    return OAuthTokens(
        access_token=_str(inner.get("accessToken")) or "",
        refresh_token=_str(inner.get("refreshToken")),
        expires_at=epoch_seconds(inner.get("expiresAt")),
    )


def _export_claude(doc: dict[str, Any], tokens: OAuthTokens) -> dict[str, Any]:
    inner = dict(doc["claudeAiOauth"])
    inner.update(accessToken=tokens.access_token, refreshToken=tokens.refresh_token)
    if tokens.expires_at is not None:
        inner["expiresAt"] = int(tokens.expires_at * 1000)
    doc["claudeAiOauth"] = inner
    return doc


def _import_codex(doc: dict[str, Any]) -> OAuthTokens:
    inner = doc["tokens"]
    access, id_token = _str(inner.get("access_token")) or "", _str(inner.get("id_token"))
    account = _str(inner.get("account_id")) or codex_account_id(id_token, access)
    return OAuthTokens(
        access_token=access,
        refresh_token=_str(inner.get("refresh_token")),
        expires_at=epoch_seconds(jwt_claims(access).get("exp")),
        id_token=id_token,
        fields={"account_id": account} if account else {},
        last_refresh=epoch_seconds(doc.get("last_refresh")),
    )


def _export_codex(doc: dict[str, Any], tokens: OAuthTokens) -> dict[str, Any]:
    inner = dict(doc["tokens"])
    inner.update(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
    if tokens.id_token:
        inner["id_token"] = tokens.id_token
    if tokens.fields.get("account_id"):
        inner["account_id"] = tokens.fields["account_id"]
    doc["tokens"] = inner
    doc["last_refresh"] = _rfc3339(tokens.last_refresh or time.time())
    return doc


def _import_google(doc: dict[str, Any]) -> OAuthTokens:
    tokens = _import_rotator(doc)
    tokens.expires_at = epoch_seconds(doc.get("expiry_date"))
    return tokens


def _export_google(doc: dict[str, Any], tokens: OAuthTokens) -> dict[str, Any]:
    doc.update(access_token=tokens.access_token, refresh_token=tokens.refresh_token, **tokens.fields)
    if tokens.id_token:
        doc["id_token"] = tokens.id_token
    if tokens.expires_at is not None:
        doc["expiry_date"] = int(tokens.expires_at * 1000)
    return doc


def _import_github(doc: dict[str, Any]) -> OAuthTokens:
    found = [v["oauth_token"] for k, v in doc.items() if "github" in k and isinstance(v, dict) and v.get("oauth_token")]
    # Editors keep several apps' tokens; the Copilot app's user-to-server token (ghu_) is the one to exchange.
    found.sort(key=lambda token: not str(token).startswith("ghu_"))
    return OAuthTokens(refresh_token=str(found[0]))


def _export_github(doc: dict[str, Any], tokens: OAuthTokens) -> dict[str, Any]:
    return doc  # the editor's file holds only the GitHub token, which an exchange never changes


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


IMPORTERS = {
    "rotator": _import_rotator,
    "claude": _import_claude,
    "codex": _import_codex,
    "google": _import_google,
    "github": _import_github,
}
EXPORTERS = {
    "rotator": _export_rotator,
    "claude": _export_claude,
    "codex": _export_codex,
    "google": _export_google,
    "github": _export_github,
}
