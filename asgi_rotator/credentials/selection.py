"""Selection strategies: which of the ready credentials to try first. Pure functions over a snapshot.

    balanced    least loaded first: below the soft concurrency target before stacking, then fewest in
                flight, then least window usage, then least recently used; ties broken at random
    sequential  stay on the active credential until it cools or hits a cap (best for provider prompt
                caches), then move to the next in configured order
    priority    tier by tier (priority 1 first), balanced within a tier

A session's sticky credential goes first under every strategy while it is ready.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .identity import Credential


@dataclass(slots=True)
class Candidate:
    """One credential as selection sees it at this moment."""

    credential: Credential
    order: int  # position in the configuration
    in_flight: int = 0
    last_used: float = 0.0
    window_used: int = 0  # requests in the current minute window
    cooling: float | None = None  # seconds left, when resting
    capped: float | None = None  # seconds until a cap's window frees it, when capped
    exhausted: bool = False  # already had its turn in the fair cycle

    @property
    def at_concurrency_cap(self) -> bool:
        """True when the hard ``max_concurrency`` is reached."""
        limit = self.credential.max_concurrency
        return limit is not None and self.in_flight >= limit


def rank(
    candidates: list[Candidate],
    *,
    strategy: str,
    optimal_concurrency: int | None = None,
    preferred: str | None = None,
) -> list[Candidate]:
    """Ready candidates, best first. ``preferred`` (a session's or sequential's active credential) leads."""
    ready = [c for c in candidates if c.cooling is None and c.capped is None and not c.at_concurrency_cap]
    fresh = [c for c in ready if not c.exhausted]
    pool = fresh or ready  # everyone exhausted: the fair cycle starts over

    def balanced(c: Candidate) -> tuple[int, int, int, float, float]:
        stacking = 1 if optimal_concurrency is not None and c.in_flight >= optimal_concurrency else 0
        return (stacking, c.in_flight, c.window_used, c.last_used, random.random())

    if strategy == "sequential":
        ordered = sorted(pool, key=lambda c: (c.credential.priority, c.order))
    elif strategy == "priority":
        ordered = sorted(pool, key=lambda c: (c.credential.priority, *balanced(c)))
    else:
        ordered = sorted(pool, key=balanced)
    if preferred is not None:
        ordered.sort(key=lambda c: c.credential.id != preferred)
    return ordered
