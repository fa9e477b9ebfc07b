"""Usage accounting: cost of each call, a shared usage ledger, client-key budgets and Prometheus metrics."""

from __future__ import annotations

from .ledger import SERIES, WINDOWS, UsageLedger
from .pricing import compute_cost
from .prometheus import PrometheusMetrics
from .quotas import QuotaGuard

__all__ = [
    "SERIES",
    "WINDOWS",
    "PrometheusMetrics",
    "QuotaGuard",
    "UsageLedger",
    "compute_cost",
]
