"""Per-client-key budgets: requests, tokens or USD per UTC day or calendar month.

A budget is held by each request (:class:`~asgi_rotator.credentials.budget.BudgetHold`): its request is
reserved in the same atomic step that admits it to a credential, and its tokens and cost are settled when
it ends, so a request budget is exact however many requests race on however many replicas. Token and USD
budgets are checked at admission against what was settled so far, so they may overshoot by what the
requests already in flight use; the next request is refused until the period ends. Calls of unknown cost do
not count toward a USD budget (the ledger cannot price them).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config.models import Budget
from ..credentials.budget import BudgetHold, period_bounds
from ..state.keys import Keyspace


class QuotaGuard:
    """Builds the budget holds of requests whose client key has a budget.

    Args:
        keys: the keyspace budget counters live under.
        clock: Unix time; periods end by it.
    """

    def __init__(self, keys: Keyspace, *, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock

    def hold(self, client_key_id: str | None, budget: Budget | None) -> BudgetHold | None:
        """The hold a request of ``client_key_id`` takes on ``budget`` (None when unlimited)."""
        if client_key_id is None or budget is None:
            return None
        now = self._clock()
        start, end = period_bounds(budget.period, now)
        return BudgetHold(budget, self._keys.quota(client_key_id, budget.period, start), end - now)
