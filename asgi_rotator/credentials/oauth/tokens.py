"""An OAuth credential's tokens, and the readers of what its issuers put in them (expiry units, JWT claims)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
