"""Accounting for one served call: its cost, the shared ledger, budgets and metrics, in one place."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config.models import RotatorConfig
from ..credentials.budget import NANO, BudgetHold
from ..protocols.unified import Usage
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace
from ..stream_stats import StreamStats
from .ledger import UsageLedger
from .pricing import compute_cost
from .prometheus import PrometheusMetrics
from .quotas import QuotaGuard


class Accounting:
    """Costs, records and measures calls. Only the attempt that served the client is recorded."""

    def __init__(
        self, config: RotatorConfig, backend: StateBackend, keys: Keyspace, *, clock: Callable[[], float] = time.time
    ):
        self._config = config
        self.ledger = UsageLedger(backend, keys, scopes=config.scopes, clock=clock)
        self.quotas = QuotaGuard(keys, clock=clock)
        self.prometheus = PrometheusMetrics()

    def cost(self, provider: str, model: str, usage: Usage | None) -> tuple[float | None, str]:
        """``(cost in USD or None, source)`` of a call to ``provider/model``."""
        if usage is None:
            return None, "unknown"
        settings = self._config.providers.get(provider)
        options = settings.models.get(model) if settings is not None else None
        return compute_cost(usage, options.pricing if options else None, provider=provider, model=model)

    def record_ops(
        self,
        *,
        provider: str,
        model: str,
        credential: str | None,
        client_key: str | None,
        scope: str | None,
        usage: Usage | None,
        cost: tuple[float | None, str],
        budget: BudgetHold | None,
        stream: StreamStats | None = None,
    ) -> list[WriteOp]:
        """Add a served call to the ledger (written with the others of its second, off the request's path)
        and return the writes that settle its budget. ``cost`` is :meth:`cost` of ``usage``; an unknown
        usage shape records the request only, at the cost of no tokens."""
        if usage is None:
            usage = Usage()
            cost = self.cost(provider, model, usage)
        cost_usd, source = cost
        self.prometheus.observe_usage(provider=provider, model=model, usage=usage, cost_usd=cost_usd)
        self.ledger.record(
            provider=provider,
            model=model,
            credential=credential,
            client_key=client_key,
            scope=scope,
            usage=usage,
            cost_usd=cost_usd,
            cost_source=source,
            stream=stream,
        )
        if budget is None:
            return []
        known = cost_usd is not None and source != "unknown"
        return budget.settle_ops(usage.total_tokens, round(cost_usd * NANO) if known and cost_usd else 0)
