"""Introspection: health, credential states, usage, Prometheus metrics and traces. Nothing here reveals a
secret, and each answer is scoped to what the caller may see (DESIGN.md section 5, "Identity, admin and
introspection")."""

from __future__ import annotations

import asyncio
from typing import Any

from .. import dashboard
from ..caller import Caller
from ..credentials.pool import CredentialPool
from ..errors import GatewayError, invalid_request
from ..http.asgi import encode_headers, send_bytes, send_json
from ..tracing import TraceWriter
from ..types import Send
from ..upstream.oauth import OAuthCredentials
from ..usage import WINDOWS, PrometheusMetrics, UsageLedger
from ..usage.recent import RecentRequests
from .base import Request

#: ``GET /rotator/requests`` answers at most this many summaries.
MAX_REQUESTS_LIMIT = 1000


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
        recent: the recent request summaries.
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
        recent: RecentRequests,
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
        self._recent = recent

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
        """One request's trace, as far as the caller may read it."""
        request_id = request.route.item_id or ""
        entries = await self.readable_trace(request.caller, request_id)
        await send_json(send, 200, {"request_id": request_id, "entries": entries})

    async def readable_trace(self, caller: Caller, request_id: str) -> list[dict[str, Any]]:
        """The entries of ``request_id``'s trace if ``caller`` may read it. Every trace read goes through here.

        Admins read every trace; any other key the traces of what its scope (or, for a global key, the key
        itself) asked, like stored responses.

        Raises:
            GatewayError: 404 when there is no such trace, or it belongs to someone else (indistinguishable).
        """
        entries = await self._tracer.read(request_id, owner=None if caller.admin else caller.owner)
        if entries is None:
            raise GatewayError("not_found", f"No trace for request '{request_id}'.")
        return entries

    async def requests(self, request: Request, send: Send) -> None:
        """Recent request summaries, newest first (``?limit=N``, default 50): every scope's for admins, the
        global list for a global key, its own scope's for a scoped key."""
        raw = request.query().get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_REQUESTS_LIMIT:
            raise invalid_request(
                f"Query parameter 'limit' must be an integer from 1 to {MAX_REQUESTS_LIMIT}.", param="limit"
            )
        caller = request.caller
        scopes = self._recent.every_scope() if caller.admin else [caller.scope]
        await send_json(send, 200, {"requests": await self._recent.newest(scopes, int(raw))})


async def dashboard_page(request: Request, send: Send) -> None:
    """The ``/rotator/`` dashboard page and its shipped assets (public: the JSON the page reads needs a key)."""
    found = dashboard.response(request.route.item_id or "")
    if found is None:
        raise GatewayError("not_found", "No such dashboard asset.")
    status, body, headers = found
    await send_bytes(send, status, body, encode_headers(headers))
