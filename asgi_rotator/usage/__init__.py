"""Usage accounting: cost of each call, a shared usage ledger, client-key budgets and Prometheus metrics."""

from __future__ import annotations

from .ledger import WINDOWS, PeriodUsage, UsageLedger, period_bounds
from .pricing import compute_cost
from .prometheus import PrometheusMetrics
from .quotas import QuotaGuard

__all__ = [
    "WINDOWS",
    "PrometheusMetrics",
    "PeriodUsage",
    "QuotaGuard",
    "UsageLedger",
    "compute_cost",
    "period_bounds",
]
