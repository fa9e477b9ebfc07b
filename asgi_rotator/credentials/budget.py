"""A client key's budget on one request: reserved when the request is admitted, settled when it ends.

The reservation is part of the request's first admission (:mod:`asgi_rotator.state.admission`): the
request count is checked and added in the same atomic step as the credential's lease, so concurrent
requests on any number of replicas land exactly on a request budget. Tokens and USD are known only when
the request ends, so admission checks that some are left and the end settles what was used; a request
that fails gives its reservation back. Calls of unknown cost add nothing to a USD budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ..config.models import Budget
from ..errors import BudgetExceeded
from ..state.admission import Reservation
from ..state.base import WriteOp

Period = Literal["day", "month"]
#: Cost is counted in nano-dollars: a few-token call costs fractions of a micro-dollar.
NANO = 1_000_000_000


def period_bounds(period: Period, now: float) -> tuple[int, float]:
    """The start and end (Unix seconds) of the UTC day or calendar month holding ``now``."""
    if period == "day":
        start = int(now // 86400) * 86400
        return start, start + 86400.0
    moment = datetime.fromtimestamp(now, UTC)
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    )
    return int(first.timestamp()), following.timestamp()


@dataclass(slots=True)
class BudgetHold:
    """One request's hold on its client key's budget for the current period (hash ``key``)."""

    budget: Budget
    key: str
    #: Seconds until the period ends.
    resets_in: float
    taken: bool = False

    def reservation(self) -> Reservation:
        """What admission checks and adds: one request, and room left for tokens and USD."""
        budget = self.budget
        limits: list[tuple[str, int, int]] = []
        if budget.requests is not None:
            limits.append(("requests", budget.requests, 1))
        if budget.tokens is not None:
            limits.append(("tokens", budget.tokens, 0))
        if budget.usd is not None:
            limits.append(("cost_nusd", round(budget.usd * NANO), 0))
        return Reservation(self.key, tuple(limits), self.resets_in + 60.0, self.resets_in)

    def exceeded(self, field: str, retry_after: float) -> BudgetExceeded:
        """The 429 for a used-up ``field`` of the reservation."""
        budget = self.budget
        if field == "requests":
            limit = f"{budget.requests} requests"
        elif field == "tokens":
            limit = f"{budget.tokens} tokens"
        else:
            limit = f"${budget.usd or 0:g}"
        return BudgetExceeded(limit, budget.period, float(max(round(retry_after), 1)))

    def settle_ops(self, tokens: int, cost_nusd: int) -> list[WriteOp]:
        """The writes that count a served request's tokens and cost (its request was counted at admission)."""
        if not self.taken:
            return []
        self.taken = False
        amounts = {"tokens": max(tokens, 0), "cost_nusd": max(cost_nusd, 0)}
        amounts = {name: amount for name, amount in amounts.items() if amount}
        return [("hincr", self.key, amounts, self.resets_in + 60.0)] if amounts else []

    def cancel_ops(self) -> list[WriteOp]:
        """The writes that give a failed request's reservation back."""
        if not self.taken:
            return []
        self.taken = False
        return [("hincr", self.key, {"requests": -1}, self.resets_in + 60.0)]
