"""How a credential goes on the wire for each provider auth mode.

Gemini's key goes in the ``x-goog-api-key`` header, never ``?key=``: query strings end up in URL logs.

Two modes serve subscription presets: ``anthropic_oauth`` sends Claude OAuth tokens (``sk-ant-oat...``) as
``Authorization: Bearer`` and Anthropic API keys (``sk-ant-api...``) as ``x-api-key``, so one ``claude_code``
pool may hold both; ``iflow`` sends the API key as Bearer plus iFlow's request signature (an HMAC-SHA256 of
``iFlow-Cli:<session-id>:<timestamp ms>`` keyed with the API key).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from ..config.models import ProviderConfig
from ..protocols.base import WireProtocol


def auth_headers(provider: ProviderConfig, protocol: WireProtocol, secret: str) -> dict[str, str]:
    """The headers that carry ``secret`` to ``provider``."""
    mode = provider.auth or protocol.default_auth
    if mode == "none":
        return {}
    if mode == "bearer":
        return {"authorization": f"Bearer {secret}"}
    if mode == "anthropic_oauth":
        if secret.startswith("sk-ant-api"):
            return {"x-api-key": secret}
        return {"authorization": f"Bearer {secret}"}
    if mode == "iflow":
        return _iflow(secret)
    if mode == "custom":
        assert provider.auth_header is not None  # enforced by the config model
        return {provider.auth_header.lower(): secret}
    return {mode: secret}


def _iflow(api_key: str) -> dict[str, str]:
    session = f"session-{uuid.uuid4()}"
    stamp = str(int(time.time() * 1000))
    signature = hmac.new(api_key.encode(), f"iFlow-Cli:{session}:{stamp}".encode(), hashlib.sha256).hexdigest()
    return {
        "authorization": f"Bearer {api_key}",
        "session-id": session,
        "x-iflow-timestamp": stamp,
        "x-iflow-signature": signature,
    }
