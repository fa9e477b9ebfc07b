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

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from ...errors import OAuthFileError
from .shapes import EXPORTERS, IMPORTERS, shape_of
from .tokens import OAuthTokens


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
    shape = shape_of(document)
    tokens = IMPORTERS[shape](document)
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
    document = EXPORTERS[credential_file.shape](dict(credential_file.document), tokens)
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
