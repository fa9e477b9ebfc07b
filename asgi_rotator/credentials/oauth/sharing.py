"""Refreshed OAuth tokens shared between replicas through the state backend, encrypted.

With ``state.encryption_key`` each refresh is published sealed (:mod:`asgi_rotator.credentials.sealing`), so
every replica uses the newest rotating refresh token. Without the key nothing is shared this way: replicas
still meet in a credential file they share on disk.
"""

from __future__ import annotations

from typing import Any

from ..sealing import Sealer
from .tokens import OAuthTokens


class TokenSealer:
    """Encrypts tokens for the state backend and decrypts what another replica published.

    Args:
        key: a Fernet key (``cryptography.fernet.Fernet.generate_key()``); the same on every replica.
    """

    __slots__ = ("_sealer",)

    def __init__(self, key: str) -> None:
        self._sealer = Sealer(key)

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
        return self._sealer.seal(plain)

    def open(self, sealed: bytes, base: OAuthTokens) -> OAuthTokens | None:
        """The tokens another replica published, over ``base`` (for what is not shared); None when the
        blob does not decrypt with this key (a replica with another key)."""
        plain = self._sealer.open(sealed)
        if not isinstance(plain, dict):
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
