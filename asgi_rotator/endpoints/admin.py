"""Introspection and listing endpoints: health, models, credentials. Nothing here reveals a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config.models import RotatorConfig
from ..credentials.pool import CredentialPool
from ..http.auth import Client

if TYPE_CHECKING:
    from ..gateway import Gateway


def health(gateway: Gateway) -> dict[str, Any]:
    """Liveness and a summary of what is configured; needs no key."""
    return {
        "status": "ok",
        "providers": sorted(gateway.config.providers),
        "state_backend": gateway.config.state.backend,
        "auth": "open" if gateway.auth.open else "keys",
    }


def models(config: RotatorConfig, *, gemini: bool) -> dict[str, Any]:
    """Configured models and aliases, in the OpenAI list shape or the Gemini one."""
    names = [f"{provider}/{model}" for provider, p in config.providers.items() for model in p.models]
    names += [alias for alias in config.routing.aliases if alias not in names]
    if gemini:
        methods = ["generateContent", "streamGenerateContent", "countTokens"]
        return {
            "models": [
                {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": methods} for name in names
            ]
        }
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": name.partition("/")[0] if "/" in name else "alias",
            }
            for name in names
        ],
    }


async def credentials(pool: CredentialPool, client: Client) -> dict[str, Any]:
    """Every credential's state, masked: all of them for admins, the caller's scope otherwise."""
    rows = await pool.states()
    return {"credentials": [row for row in rows if client.admin or row["scope"] == client.scope]}
