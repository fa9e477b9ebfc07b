"""Refreshed OAuth tokens shared between replicas through the state backend, encrypted.

Raw secrets never reach the state backend in clear (DESIGN section 5); with ``state.encryption_key`` (a
Fernet key from ``cryptography``) each refresh is published encrypted, so every replica uses the newest
rotating refresh token. Without the key nothing is shared this way: replicas still meet in a credential file
they share on disk.
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import MissingDependency
from .tokens import OAuthTokens


class TokenSealer:
    """Encrypts tokens for the state backend and decrypts what another replica published.

    Args:
        key: a Fernet key (``cryptography.fernet.Fernet.generate_key()``); the same on every replica.
    """

    __slots__ = ("_fernet",)

    def __init__(self, key: str) -> None:
        try:
            from cryptography.fernet import Fernet
        except ImportError:  # pragma: no cover - cryptography is a dependency of the oauth extra
            raise MissingDependency("cryptography", extra="oauth") from None
        self._fernet = Fernet(key.encode())

    def seal(self, tokens: OAuthTokens) -> bytes:
        """``tokens`` encrypted and authenticated."""
        plain: dict[str, Any] = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "id_token": tokens.id_token,
            "api_key": tokens.api_key,
            "fields": tokens.fields,
            "last_refresh": tokens.last_refresh,
        }
        return self._fernet.encrypt(json.dumps(plain).encode())

    def open(self, sealed: bytes, base: OAuthTokens) -> OAuthTokens | None:
        """The tokens another replica published, over ``base`` (for what is not shared); None when the
        blob does not decrypt with this key (a replica with another key)."""
        from cryptography.fernet import InvalidToken

        try:
            plain = json.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, ValueError):
            return None
        return OAuthTokens(
            access_token=plain["access_token"],
            refresh_token=plain["refresh_token"],
            expires_at=plain["expires_at"],
            id_token=plain["id_token"],
            api_key=plain["api_key"],
            token_url=base.token_url,
            client_id=base.client_id,
            client_secret=base.client_secret,
            fields={**base.fields, **plain["fields"]},
            last_refresh=plain["last_refresh"],
        )
