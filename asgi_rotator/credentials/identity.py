"""Credential identity: a keyed fingerprint every replica computes alike, and a masked form for display.

Raw keys never reach the state backend, traces or logs; the fingerprint stands for them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

# Used when state.fingerprint_key is not set: stable across replicas, but set your own to keep
# fingerprints from being checked against guessed keys.
_DEFAULT_FINGERPRINT_KEY = b"asgi-rotator/credential-fingerprint/v1"


def fingerprint(secret: str, key: bytes | None = None) -> str:
    """A short HMAC-SHA256 fingerprint of ``secret``."""
    digest = hmac.new(key or _DEFAULT_FINGERPRINT_KEY, secret.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def mask(secret: str) -> str:
    """``...abcd``: enough to tell keys apart in a table, never enough to use one."""
    return "..." + secret[-4:] if len(secret) > 8 else "..." + "*" * 4


@dataclass(frozen=True, slots=True)
class Credential:
    """One provider credential as the pool hands it out. Its ``repr`` shows only the masked form."""

    provider: str
    id: str
    masked: str
    priority: int = 1
    max_concurrency: int | None = None
    scope: str | None = None
    secret: str = field(default="", repr=False, compare=False)
    #: Known limits: requests and tokens per minute, requests per day.
    rpm: int | None = None
    tpm: int | None = None
    daily: int | None = None

    def __repr__(self) -> str:
        return f"Credential(provider={self.provider!r}, id={self.id!r}, masked={self.masked!r})"


#: The id and display form of the one credential a keyless (``auth: none``) provider implicitly has.
ANONYMOUS = "anonymous"


def anonymous(provider: str) -> Credential:
    """The implied credential of a keyless provider: it sends nothing, yet cools down and counts like any other."""
    return Credential(provider, ANONYMOUS, ANONYMOUS)
