"""Per-client-key budgets: requests, tokens or USD per UTC day or calendar month.

A budget is checked before a request is served, against what the ledger counted so far in the period, so
one request may overshoot it by its own size; the next one is refused until the period ends. Calls of unknown
cost do not count toward a USD budget (the ledger cannot price them).
"""

from __future__ import annotations

import math

from ..config.models import Budget
from ..errors import BudgetExceeded
from .ledger import UsageLedger, period_bounds


class QuotaGuard:
    """Refuses requests of client keys whose budget for the current period is used up.

    Args:
        ledger: the usage ledger that counts each client key's periods.
    """

    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    async def check(self, client_key_id: str | None, budget: Budget | None) -> None:
        """Return when ``client_key_id`` may make another request under ``budget`` (None is unlimited).

        Raises:
            BudgetExceeded: a ``GatewayError`` of kind ``rate_limit``, status 429, with ``retry_after``.
            BackendError: the state backend failed.
        """
        if client_key_id is None or budget is None:
            return
        used = await self._ledger.period_usage(client_key_id, budget.period)
        exceeded: str | None = None
        if budget.requests is not None and used.requests >= budget.requests:
            exceeded = f"{budget.requests} requests"
        elif budget.tokens is not None and used.tokens >= budget.tokens:
            exceeded = f"{budget.tokens} tokens"
        elif budget.usd is not None and used.cost_usd >= budget.usd:
            exceeded = f"${budget.usd:g}"
        if exceeded is None:
            return
        now = self._ledger.clock()
        _, end = period_bounds(budget.period, now)
        raise BudgetExceeded(exceeded, budget.period, float(max(math.ceil(end - now), 1)))
