"""Client authentication: the proxy key may come in any of the four forms the SDKs use, on every route.

Keys are compared by their SHA-256 digest, so a lookup neither keeps nor leaks timing about the raw keys.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from urllib.parse import parse_qs, parse_qsl, urlencode

from ..caller import Caller
from ..config.models import AuthConfig
from ..credentials.identity import fingerprint

logger = logging.getLogger("asgi_rotator")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ClientAuth:
    """Checks client keys against ``auth.api_keys`` and ``auth.admin_keys``. With none configured, all pass."""

    def __init__(self, config: AuthConfig) -> None:
        self._keys: dict[bytes, Caller] = {}
        for entry in config.api_keys:
            secret = entry.key.get_secret_value()
            self._keys[_digest(secret)] = Caller(fingerprint(secret), entry.scope, budget=entry.budget)
        for entry in config.admin_keys:
            secret = entry.key.get_secret_value()
            self._keys[_digest(secret)] = Caller(fingerprint(secret), None, admin=True, budget=entry.budget)
        self.open = not self._keys
        #: Who calls a public route without a key.
        self.anonymous = Caller(None)
        if self.open:
            logger.warning("asgi_rotator: no auth.api_keys configured: every route is OPEN to any caller")

    def authenticate(self, headers: Mapping[str, str], query_string: bytes) -> Caller | None:
        """The calling client, or None when the key is missing or wrong."""
        key = presented_key(headers, query_string)
        if self.open:
            return Caller(fingerprint(key) if key else None, admin=True)
        if key is None:
            return None
        return self._keys.get(_digest(key))


def presented_key(headers: Mapping[str, str], query_string: bytes) -> str | None:
    """The key from ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or ``?key=``."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    for name in ("x-api-key", "x-goog-api-key"):
        if headers.get(name, "").strip():
            return headers[name].strip()
    if query_string and b"key=" in query_string:
        values = parse_qs(query_string.decode("latin-1")).get("key")
        if values and values[0].strip():
            return values[0].strip()
    return None


def scrub_query_key(query_string: bytes) -> bytes:
    """``query_string`` with the value of every ``key`` parameter replaced, for logs that print it."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return urlencode([(name, "[redacted]" if name == "key" else value) for name, value in pairs]).encode("latin-1")
