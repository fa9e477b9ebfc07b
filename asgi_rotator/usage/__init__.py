"""Usage accounting: cost of each call, a shared usage ledger, client-key budgets and Prometheus metrics."""

from __future__ import annotations

from .ledger import WINDOWS, PeriodUsage, UsageLedger, period_bounds
from .metrics import Metrics
from .pricing import compute_cost
from .quotas import BudgetExceeded, QuotaGuard

__all__ = [
    "WINDOWS",
    "BudgetExceeded",
    "Metrics",
    "PeriodUsage",
    "QuotaGuard",
    "UsageLedger",
    "compute_cost",
    "period_bounds",
]
