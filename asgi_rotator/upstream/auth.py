"""How a credential goes on the wire for each provider auth mode.

Gemini's key goes in the ``x-goog-api-key`` header, never ``?key=``: query strings end up in URL logs.
"""

from __future__ import annotations

from ..config.models import ProviderConfig
from ..protocols.base import WireProtocol


def auth_headers(provider: ProviderConfig, protocol: WireProtocol, secret: str) -> dict[str, str]:
    """The headers that carry ``secret`` to ``provider``."""
    mode = provider.auth or protocol.default_auth
    if mode == "none":
        return {}
    if mode == "bearer":
        return {"authorization": f"Bearer {secret}"}
    if mode == "custom":
        assert provider.auth_header is not None  # enforced by the config model
        return {provider.auth_header.lower(): secret}
    return {mode: secret}
