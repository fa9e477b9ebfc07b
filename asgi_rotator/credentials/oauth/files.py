"""OAuth credential files: read in any supported shape, written back in the same shape, atomically, mode 0600.

The gateway's own shape (what ``asgi-rotator login`` writes) is a flat JSON object::

    {"access_token": "...", "refresh_token": "...", "expires_at": 1767225600,
     "token_url": "...", "client_id": "...", "client_secret": "...",
     "account_id": "...", "project_id": "...", "resource_url": "...", "api_key": "...", "last_refresh": ...}

``expires_at`` is epoch seconds (milliseconds when above 10^12, or an RFC 3339 string). The official CLIs'
own files are read as they are, and refreshed tokens go back into them in their own shape, so the CLI keeps
working from the same file:

    shape    file                                    tokens                                expiry
    claude   ~/.claude/.credentials.json             claudeAiOauth.{accessToken,...}       expiresAt (ms)
    codex    ~/.codex/auth.json                      tokens.{access_token,...}             the access JWT's exp
    google   ~/.gemini/oauth_creds.json,             access_token, refresh_token           expiry_date (ms)
             ~/.qwen/oauth_creds.json
    github   ~/.config/github-copilot/apps.json      <host>.oauth_token (a GitHub token)   none (exchanged)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...errors import OAuthFileError

#: Provider fields a file may carry; they are not secrets and reach adapters (``Credential.fields``).
FIELDS = ("account_id", "project_id", "resource_url")
_MS_THRESHOLD = 10**12
_CODEX_AUTH_CLAIM = "https://api.openai.com/auth"


@dataclass(slots=True)
class OAuthTokens:
    """One OAuth credential's tokens and what came with them. Its ``repr`` shows no secret."""

    access_token: str = field(default="", repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    #: Epoch seconds; None when unknown (then only a 401 triggers a refresh).
    expires_at: float | None = None
    id_token: str | None = field(default=None, repr=False)
    #: iFlow: the key that calls the model API (the access token only fetches it).
    api_key: str | None = field(default=None, repr=False)
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: Non-secret provider fields (account_id, project_id, resource_url) and a base URL from an exchange.
    fields: dict[str, str] = field(default_factory=dict)
    last_refresh: float | None = None

    @property
    def secret(self) -> str:
        """What goes on the wire as the credential (iFlow's API key, else the access token)."""
        return self.api_key or self.access_token

    def secrets(self) -> list[str]:
        """Every secret value held, for the trace redactor."""
        values = (self.access_token, self.refresh_token, self.id_token, self.api_key, self.client_secret)
        return [v for v in values if v]

    def expires_in(self, now: float) -> float | None:
        """Seconds until expiry (negative once expired), None when unknown."""
        return None if self.expires_at is None else self.expires_at - now


@dataclass(slots=True)
class CredentialFile:
    """A credential file as read: its path, shape, tokens, and the whole document (to write back)."""

    path: str
    shape: str
    tokens: OAuthTokens
    document: dict[str, Any]
    mtime: float = 0.0

    def __repr__(self) -> str:
        return f"CredentialFile(path={self.path!r}, shape={self.shape!r})"


def read(path: str) -> CredentialFile:
    """Read and recognise a credential file.

    Raises:
        OAuthFileError: the file is missing, unreadable, not JSON, or holds no token (the message names it).
    """
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            raw = handle.read()
    except OSError as exc:
        raise OAuthFileError(f"OAuth credential file {path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise OAuthFileError(f"OAuth credential file {path}: is not valid JSON.") from None
    if not isinstance(document, dict):
        raise OAuthFileError(f"OAuth credential file {path}: is not a JSON object.")
    shape = _shape(document)
    tokens = _IMPORTERS[shape](document)
    if not tokens.access_token and not tokens.refresh_token:
        raise OAuthFileError(f"OAuth credential file {path}: holds neither an access_token nor a refresh_token.")
    return CredentialFile(path, shape, tokens, document, stat.st_mtime)


def modified_since(credential_file: CredentialFile) -> bool:
    """True when the file on disk changed since it was read (another process refreshed it)."""
    try:
        return os.stat(credential_file.path).st_mtime != credential_file.mtime
    except OSError:
        return False


def write(credential_file: CredentialFile, tokens: OAuthTokens) -> None:
    """Write ``tokens`` back in the file's own shape: temp file in the same directory, mode 0600, rename."""
    document = _EXPORTERS[credential_file.shape](dict(credential_file.document), tokens)
    directory = os.path.dirname(credential_file.path) or "."
    descriptor, temp = tempfile.mkstemp(prefix=".oauth-", suffix=".tmp", dir=directory)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, credential_file.path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    credential_file.document, credential_file.tokens = document, tokens
    credential_file.mtime = os.stat(credential_file.path).st_mtime


def create(path: str, tokens: OAuthTokens) -> None:
    """Write a new file in the gateway's own shape (``asgi-rotator login``)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write(CredentialFile(os.path.abspath(path), "rotator", tokens, {}), tokens)


def epoch_seconds(value: Any) -> float | None:
    """An expiry as epoch seconds: numbers in seconds or milliseconds (above 10^12), or RFC 3339 text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value / 1000 if value > _MS_THRESHOLD else float(value)
    if isinstance(value, str) and value:
        try:
            return epoch_seconds(float(value))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return None


def jwt_claims(token: str | None) -> dict[str, Any]:
    """The claims of a JWT, unverified (only to read expiry and account ids the issuer put there)."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def codex_account_id(id_token: str | None, access_token: str | None = None) -> str | None:
    """The ChatGPT account id from Codex's tokens (``https://api.openai.com/auth`` claim)."""
    for token in (id_token, access_token):
        claims = jwt_claims(token)
        auth = claims.get(_CODEX_AUTH_CLAIM)
        account = (auth if isinstance(auth, dict) else {}).get("chatgpt_account_id") or claims.get("chatgpt_account_id")
        if isinstance(account, str) and account:
            return account
    return None


def _shape(document: dict[str, Any]) -> str:
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


_IMPORTERS = {
    "rotator": _import_rotator,
    "claude": _import_claude,
    "codex": _import_codex,
    "google": _import_google,
    "github": _import_github,
}
_EXPORTERS = {
    "rotator": _export_rotator,
    "claude": _export_claude,
    "codex": _export_codex,
    "google": _export_google,
    "github": _export_github,
}
