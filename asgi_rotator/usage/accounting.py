"""Accounting for one served call: its cost, the shared ledger, budgets and metrics, in one place."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..config.models import RotatorConfig
from ..errors import BackendError
from ..protocols.unified import Usage
from ..state.base import StateBackend
from ..state.keys import Keyspace
from ..stream_stats import StreamStats
from .ledger import UsageLedger
from .pricing import compute_cost
from .prometheus import PrometheusMetrics
from .quotas import QuotaGuard

logger = logging.getLogger("asgi_rotator")


class Accounting:
    """Costs, records and measures calls. Only the attempt that served the client is recorded."""

    def __init__(
        self, config: RotatorConfig, backend: StateBackend, keys: Keyspace, *, clock: Callable[[], float] = time.time
    ):
        self._config = config
        self.ledger = UsageLedger(backend, keys, clock=clock)
        self.quotas = QuotaGuard(self.ledger)
        self.prometheus = PrometheusMetrics()

    def cost(self, provider: str, model: str, usage: Usage | None) -> tuple[float | None, str]:
        """``(cost in USD or None, source)`` of a call to ``provider/model``."""
        if usage is None:
            return None, "unknown"
        settings = self._config.providers.get(provider)
        options = settings.models.get(model) if settings is not None else None
        return compute_cost(usage, options.pricing if options else None, provider=provider, model=model)

    async def record(
        self,
        *,
        provider: str,
        model: str,
        credential: str | None,
        client_key: str | None,
        scope: str | None,
        usage: Usage | None,
        latency: float | None = None,
        ttfb: float | None = None,
        outcome: str = "ok",
        stream: StreamStats | None = None,
    ) -> tuple[float | None, str]:
        """Record a finished call; returns its cost and the cost's source. An unknown usage shape records the
        request only, and nothing here raises into the request: a failing backend is logged."""
        self.prometheus.observe_request(provider=provider, model=model, outcome=outcome, latency=latency, ttfb=ttfb)
        if usage is None:
            usage = Usage()
        cost, source = self.cost(provider, model, usage)
        self.prometheus.observe_usage(provider=provider, model=model, usage=usage, cost_usd=cost)
        try:
            await self.ledger.record(
                provider=provider,
                model=model,
                credential=credential,
                client_key=client_key,
                scope=scope,
                usage=usage,
                cost_usd=cost,
                cost_source=source,
                stream=stream,
            )
        except BackendError as exc:
            logger.error("asgi_rotator: usage not recorded: %s", exc)
        return cost, source
