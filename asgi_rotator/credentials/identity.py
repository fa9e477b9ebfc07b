"""Credential identity: a keyed fingerprint every replica computes alike, and a masked form for display.

Raw keys never reach the state backend, traces or logs; the fingerprint stands for them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config.models import CredentialConfig

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
    #: An OAuth credential's token file (its ``secret`` is then the current access token, set per attempt).
    oauth_file: str | None = None
    #: Non-secret fields an OAuth credential brings (``account_id``, ``project_id``), for adapters.
    fields: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: A base URL the credential brings (provider ``credential_base_url``); it replaces the provider's.
    base_url: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Credential(provider={self.provider!r}, id={self.id!r}, masked={self.masked!r})"


def from_config(provider: str, entry: CredentialConfig, scope: str | None, key: bytes | None) -> Credential:
    """The pool's credential for one configured entry: an API key, or an OAuth file (identified by its path,
    since its tokens change; its secret is filled in per attempt)."""
    if entry.oauth_file is not None:
        path = os.path.abspath(os.path.expanduser(entry.oauth_file))
        ident, masked, secret = fingerprint("oauth_file:" + path, key), "oauth:" + os.path.basename(path), ""
    else:
        assert entry.key is not None  # the config model allows key or oauth_file
        secret = entry.key.get_secret_value()
        ident, masked, path = fingerprint(secret, key), mask(secret), None
    return Credential(
        provider,
        ident,
        masked,
        entry.priority,
        entry.max_concurrency,
        scope,
        secret,
        entry.rpm,
        entry.tpm,
        entry.daily,
        oauth_file=path,
    )


#: The id and display form of the one credential a keyless (``auth: none``) provider implicitly has.
ANONYMOUS = "anonymous"


def anonymous(provider: str) -> Credential:
    """The implied credential of a keyless provider: it sends nothing, yet cools down and counts like any other."""
    return Credential(provider, ANONYMOUS, ANONYMOUS)
