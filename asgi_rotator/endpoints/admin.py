"""Introspection: health, credential states, usage, Prometheus metrics and traces. Nothing here reveals a
secret, and each answer is scoped to what the caller may see (DESIGN.md section 5, "Identity, admin and
introspection")."""

from __future__ import annotations

import asyncio

from ..credentials.pool import CredentialPool
from ..errors import GatewayError, invalid_request
from ..http.asgi import send_bytes, send_json
from ..tracing import TraceWriter
from ..types import Send
from ..upstream.oauth import OAuthCredentials
from ..usage import WINDOWS, PrometheusMetrics, UsageLedger
from .base import Request


class Introspection:
    """The ``/rotator/*`` JSON endpoints.

    Args:
        providers: the configured provider names (health lists them).
        state_backend: the configured state backend's name.
        open_auth: no client keys are configured.
        pool: credential states.
        oauth: OAuth credentials' expiry and last renewal (``oauth`` in their rows; never a token).
        ledger: usage counters.
        prometheus: the Prometheus series.
        tracer: trace files.
    """

    def __init__(
        self,
        *,
        providers: list[str],
        state_backend: str,
        open_auth: bool,
        pool: CredentialPool,
        oauth: OAuthCredentials,
        ledger: UsageLedger,
        prometheus: PrometheusMetrics,
        tracer: TraceWriter,
    ) -> None:
        self._health = {
            "status": "ok",
            "providers": sorted(providers),
            "state_backend": state_backend,
            "auth": "open" if open_auth else "keys",
        }
        self._pool = pool
        self._oauth = oauth
        self._ledger = ledger
        self._prometheus = prometheus
        self._tracer = tracer

    async def health(self, request: Request, send: Send) -> None:
        """Liveness and a summary of what is configured; needs no key."""
        await send_json(send, 200, self._health)

    async def credentials(self, request: Request, send: Send) -> None:
        """Every credential's state, masked: all of them for admins, the caller's scope otherwise."""
        caller = request.caller
        rows = await self._pool.states()
        for credential, row in zip(self._pool.all_credentials(), rows, strict=True):
            status = self._oauth.status(credential)
            if status is not None:
                row["oauth"] = status
        await send_json(send, 200, {"credentials": [r for r in rows if caller.admin or r["scope"] == caller.scope]})

    async def usage(self, request: Request, send: Send) -> None:
        """The usage ledger: admins see every scope together, a scoped key its own scope, a global key global
        usage. ``?window=`` is ``total`` (default), ``minute``, ``hour`` or ``day``."""
        window = request.query().get("window", "total")
        if window not in WINDOWS and window != "total":
            raise invalid_request(
                f"Query parameter 'window' must be one of total, {', '.join(WINDOWS)}.", param="window"
            )
        scope = "*" if request.caller.admin else request.caller.scope
        await send_json(send, 200, await self._ledger.report(scope=scope, window=window))

    async def metrics(self, request: Request, send: Send) -> None:
        """Prometheus metrics (the ``metrics`` extra), with credential states read fresh. The series span every
        tenant, so only admin keys read them. Rendering runs off the event loop."""
        if not request.caller.admin:
            raise GatewayError("permission", "Metrics cover every tenant: read them with an admin key.")
        if not self._prometheus.enabled:
            raise GatewayError(
                "not_found", "Metrics need the prometheus-client package: pip install 'asgi-rotator[metrics]'."
            )
        rows = await self._pool.states()
        for credential, row in zip(self._pool.all_credentials(), rows, strict=True):
            status = self._oauth.status(credential)
            if status is not None:
                row["oauth"] = status
        self._prometheus.set_credential_states(
            (str(r["provider"]), str(r["credential"]), str(r["state"])) for r in rows
        )
        body, content_type = await asyncio.to_thread(self._prometheus.render)
        await send_bytes(send, 200, body, [(b"content-type", content_type.encode())])

    async def trace(self, request: Request, send: Send) -> None:
        """One request's trace: admins read every trace, any other key the traces of what its scope (or, for a
        global key, the key itself) asked, like stored responses."""
        caller = request.caller
        request_id = request.route.item_id or ""
        entries = await self._tracer.read(request_id, owner=None if caller.admin else caller.owner)
        if entries is None:
            raise GatewayError("not_found", f"No trace for request '{request_id}'.")
        await send_json(send, 200, {"request_id": request_id, "entries": entries})
