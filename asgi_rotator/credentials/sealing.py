"""Secrets sealed for the state backend: Fernet (from ``cryptography``) under ``state.encryption_key``.

Raw secrets never reach the state backend in clear (DESIGN section 5). What replicas must share anyway
(refreshed OAuth tokens, credentials added at runtime) goes through one :class:`Sealer`, so there is one
cipher, one key format and one failure rule: a blob that does not open with this replica's key is ignored.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import MissingDependency


class Sealer:
    """Encrypts JSON values for the state backend and decrypts what another replica published.

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

    def seal(self, value: Any) -> bytes:
        """``value`` (anything JSON can hold) encrypted and authenticated."""
        return self._fernet.encrypt(json.dumps(value).encode())

    def open(self, sealed: bytes) -> Any | None:
        """The value in ``sealed``, or None when it does not decrypt with this key (a replica with another
        key, or a damaged blob)."""
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, ValueError):
            return None
