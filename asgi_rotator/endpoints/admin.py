"""Introspection: health, credential states, usage, Prometheus metrics and traces. Nothing here reveals a
secret, and each answer is scoped to what the caller may see (DESIGN.md section 5, "Identity, admin and
introspection")."""

from __future__ import annotations

from ..credentials.pool import CredentialPool
from ..errors import GatewayError, invalid_request
from ..http.asgi import send_bytes, send_json
from ..tracing import TraceWriter
from ..types import Send
from ..usage import WINDOWS, PrometheusMetrics, UsageLedger
from .base import Request


class Introspection:
    """The ``/rotator/*`` JSON endpoints.

    Args:
        providers: the configured provider names (health lists them).
        state_backend: the configured state backend's name.
        open_auth: no client keys are configured.
        pool: credential states.
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
        await send_json(send, 200, {"credentials": [r for r in rows if caller.admin or r["scope"] == caller.scope]})

    async def usage(self, request: Request, send: Send) -> None:
        """The usage ledger: admins see every scope together, a scoped key its own scope, a global key global
        usage. ``?window=`` is ``total`` (default), ``minute``, ``hour`` or ``day``; ``?series=minute|hour|day``
        answers usage by provider and model over time instead (:meth:`UsageLedger.series`)."""
        scope = "*" if request.caller.admin else request.caller.scope
        series = request.query().get("series")
        if series is not None:
            if series not in WINDOWS:
                raise invalid_request(f"Query parameter 'series' must be one of {', '.join(WINDOWS)}.", param="series")
            await send_json(send, 200, await self._ledger.series(series, scope=scope))
            return
        window = request.query().get("window", "total")
        if window not in WINDOWS and window != "total":
            raise invalid_request(
                f"Query parameter 'window' must be one of total, {', '.join(WINDOWS)}.", param="window"
            )
        await send_json(send, 200, await self._ledger.report(scope=scope, window=window))

    async def metrics(self, request: Request, send: Send) -> None:
        """Prometheus metrics (the ``metrics`` extra), with credential states read fresh."""
        if not self._prometheus.enabled:
            raise GatewayError(
                "not_found", "Metrics need the prometheus-client package: pip install 'asgi-rotator[metrics]'."
            )
        rows = await self._pool.states()
        self._prometheus.set_credential_states(
            (str(r["provider"]), str(r["credential"]), str(r["state"])) for r in rows
        )
        body, content_type = self._prometheus.render()
        await send_bytes(send, 200, body, [(b"content-type", content_type.encode())])

    async def trace(self, request: Request, send: Send) -> None:
        """One request's trace, for admins and global keys (scoped keys see only their own data)."""
        caller = request.caller
        if caller.scope is not None and not caller.admin:
            raise GatewayError("permission", "Traces are readable with an admin or global key.")
        request_id = request.route.item_id or ""
        entries = await self._tracer.read(request_id)
        if entries is None:
            raise GatewayError("not_found", f"No trace for request '{request_id}'.")
        await send_json(send, 200, {"request_id": request_id, "entries": entries})
