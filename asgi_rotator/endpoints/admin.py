"""Introspection and listing endpoints: health, models, credentials. Nothing here reveals a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..config.models import RotatorConfig
from ..credentials.pool import CredentialPool
from ..errors import GatewayError, invalid_request
from ..http.auth import Client
from ..tracing import TraceWriter
from ..usage import WINDOWS
from ..usage.accounting import Accounting

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


async def usage(accounting: Accounting, client: Client, query: bytes) -> dict[str, Any]:
    """The usage ledger: admins see every scope together, a scoped key its own scope, a global key global usage.

    ``?window=`` is ``total`` (default), ``minute``, ``hour`` or ``day``.
    """
    window = parse_qs(query.decode("latin-1")).get("window", ["total"])[-1]
    if window not in WINDOWS and window != "total":
        raise invalid_request(f"Query parameter 'window' must be one of total, {', '.join(WINDOWS)}.", param="window")
    scope = "*" if client.admin else client.scope
    return await accounting.ledger.report(scope=scope, window=window)


async def metrics(accounting: Accounting, pool: CredentialPool) -> tuple[bytes, str]:
    """Prometheus metrics (the ``metrics`` extra), with credential states read fresh."""
    if not accounting.metrics.enabled:
        raise GatewayError(
            "not_found", "Metrics need the prometheus-client package: pip install 'asgi-rotator[metrics]'."
        )
    rows = await pool.states()
    accounting.metrics.set_credential_states((str(r["provider"]), str(r["credential"]), str(r["state"])) for r in rows)
    return accounting.metrics.render()


async def trace(tracer: TraceWriter, request_id: str, client: Client) -> dict[str, Any]:
    """One request's trace, for admins and global keys (scoped keys see only their own data)."""
    if client.scope is not None and not client.admin:
        raise GatewayError("permission", "Traces are readable with an admin or global key.")
    entries = await tracer.read(request_id)
    if entries is None:
        raise GatewayError("not_found", f"No trace for request '{request_id}'.")
    return {"request_id": request_id, "entries": entries}
