"""Admission: choose a credential, check its caps and the caller's budget, and count it, in one atomic step.

The pool describes an admission (:class:`Admission`): every contending credential with its lease set,
cooldown records, counters and limits, the target's own cooldowns, the session's or sequential selection's
preferred credential, and an optional budget reservation. A backend decides and counts in one operation
(one Lua script in Redis, one synchronous step in memory), so a burst of concurrent requests lands exactly
on a cap however many replicas race: there is no read-then-write gap between the check and the increment.

Readiness: a credential is ready when it is not cooling, every window has room for the admission's
amount, and its concurrency cap is not reached. Ranking among ready credentials, best first:

    balanced    below the soft concurrency target before stacking, then fewest in flight, then fewest
                requests in the sliding minute, then least recently used, ties broken at random
    sequential  configured order (tier first)
    priority    tier, then balanced within the tier

A credential that already had its turn in the fair cycle goes after the others; the preferred credential
(the session's, else sequential's active one) goes first while it is ready.

A sliding minute counts the previous minute in proportion to how much of it is still inside the last 60
seconds, unrounded: 10 requests at :50 leave 9.83 of them inside the window at :01, so under an rpm of 10
an 11th is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .ops import WriteOp


@dataclass(slots=True)
class Window:
    """One counter an admission checks, and counts when it admits.

    A sliding minute names the ``previous`` minute's counter, of which the admission's ``carry`` is still
    inside; a fixed window (a day) has none. With ``amount`` 0 the window is only checked (tokens, counted
    later): it has room while its count is below ``limit``; otherwise while the count plus ``amount`` stays
    within it. A window depends on the minute only, so a credential's windows are built once a minute.
    """

    key: str
    limit: int | None
    amount: int
    ttl: float
    previous: str | None = None
    #: This window's count is the "requests in the sliding minute" balanced selection ranks by.
    ranks: bool = False
    #: It resets with the provider's day, not with the minute (see :func:`resets_in`).
    daily: bool = False


@dataclass(slots=True)
class Contender:
    """One credential an admission may choose."""

    id: str
    lease_key: str
    max_concurrency: int | None
    cooldown_keys: tuple[str, ...]
    last_used_key: str
    tier: int
    windows: tuple[Window, ...] = ()
    #: Counters added when this credential is admitted, beyond its windows: ``(key, ttl)``.
    counters: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class Reservation:
    """A budget held at admission: each ``(field, limit, amount)`` is checked as a :class:`Window` is, and the
    amounts are added to the hash at ``key`` (settled when the request ends)."""

    key: str
    limits: tuple[tuple[str, int, int], ...]
    ttl: float
    resets_in: float


Strategy = Literal["balanced", "sequential", "priority"]


@dataclass(slots=True)
class Admission:
    """Everything one admission reads and writes. ``tiebreak`` holds one random number per contender."""

    contenders: tuple[Contender, ...]
    holder: str
    lease_ttl: float
    now: float
    strategy: Strategy = "balanced"
    optimal_concurrency: int | None = None
    #: Cooldown records that rest the whole target (its model or quota group, its provider), in that order.
    target_cooldowns: tuple[str, ...] = ()
    affinity_key: str | None = None
    #: Conversation evidence to look up first (newest first): the first found names the session, whose
    #: affinity key is ``affinity_prefix`` + its escaped name. Without one, ``affinity_key`` stands.
    anchor_keys: tuple[str, ...] = ()
    affinity_prefix: str = ""
    #: Wait for the session's credential when it is only busy (the caller retries shortly).
    wait_for_sticky: bool = False
    cursor_key: str | None = None
    cursor_ttl: float = 0.0
    cycle_key: str | None = None
    last_used_ttl: float = 86400.0
    reservation: Reservation | None = None
    tiebreak: tuple[float, ...] = ()
    #: The share of the previous minute still inside the sliding minute (unrounded).
    carry: float = 0.0
    #: Seconds until the minute ends, and until the provider's day does: when a full window frees its credential.
    minute_left: float = 60.0
    day_left: float = 86400.0


@dataclass(slots=True)
class Admitted:
    """The outcome of an admission.

    ``admitted`` carries the chosen contender's ``index`` (and ``filled`` when it used a window up);
    ``resting`` the target cooldown in force (``rest`` is its index in ``target_cooldowns``); ``over_budget``
    the reservation field that is used up; ``wait`` says the session's credential is only busy;
    ``unavailable`` is the rest. ``retry_after`` is the seconds until something frees up, when known;
    ``busy`` says a credential is held only by its concurrency cap.
    """

    outcome: Literal["admitted", "resting", "over_budget", "wait", "unavailable"]
    index: int | None = None
    retry_after: float | None = None
    busy: bool = False
    rest: int | None = None
    exceeded: str | None = None
    #: When the admission used up a counted window (no room for another request), seconds until it resets.
    filled: float | None = None
    #: The session an anchor named, when the admission looked one up and found it.
    session: str | None = None


@dataclass(slots=True)
class Row:
    """What an admission reads about one contender."""

    in_flight: int = 0
    cooling: float = 0.0
    last_used: float = 0.0
    window_used: float = 0.0
    capped: float | None = None
    exhausted: bool = False
    counts: list[tuple[float, float]] = field(default_factory=list)  # per window: (count, previous)


def has_room(used: float, limit: int | None, amount: int) -> bool:
    """Whether a counter at ``used`` admits ``amount`` more under ``limit``."""
    if limit is None:
        return True
    return used + amount <= limit if amount > 0 else used < limit


def resets_in(admission: Admission, window: Window) -> float:
    """Seconds until ``window`` resets, as of ``admission``."""
    return admission.day_left if window.daily else admission.minute_left


def evaluate(admission: Admission, contender: Contender, row: Row) -> None:
    """Fill ``row.window_used`` and ``row.capped`` from ``row.counts``."""
    for window, (count, previous) in zip(contender.windows, row.counts, strict=True):
        used = count + previous * admission.carry
        if window.ranks:
            row.window_used = used
        if not has_room(used, window.limit, window.amount):
            row.capped = max(row.capped or 0.0, resets_in(admission, window))


def choose(admission: Admission, rows: list[Row], preferred: str | None, sticky: bool) -> Admitted:
    """The decision over what was read (``preferred`` is the session's or the cursor's credential id)."""
    contenders = admission.contenders

    def at_cap(i: int) -> bool:
        limit = contenders[i].max_concurrency
        return limit is not None and rows[i].in_flight >= limit

    ready = [i for i, row in enumerate(rows) if row.cooling <= 0 and row.capped is None and not at_cap(i)]
    pool = [i for i in ready if not rows[i].exhausted] or ready  # everyone had a turn: the cycle starts over
    if not pool:
        waits = [w for row in rows for w in (row.cooling if row.cooling > 0 else None, row.capped) if w is not None]
        busy = any(at_cap(i) and rows[i].cooling <= 0 for i in range(len(rows)))
        return Admitted("unavailable", retry_after=min(waits) if waits else None, busy=busy)
    best = next((i for i in pool if contenders[i].id == preferred), None) if preferred is not None else None
    if best is None:
        best = min(pool, key=_ranking(admission, rows))
        if sticky and admission.wait_for_sticky:
            held = next((i for i, c in enumerate(contenders) if c.id == preferred), None)
            if held is not None and rows[held].cooling <= 0 and rows[held].capped is None and at_cap(held):
                return Admitted("wait", busy=True)
    return Admitted("admitted", index=best, filled=filled_window(admission, contenders[best], rows[best]))


def _ranking(admission: Admission, rows: list[Row]) -> Callable[[int], tuple[float, ...]]:
    """The strategy's order of ready contenders, as a sort key (the best is the least)."""
    contenders, optimal, tiebreak = admission.contenders, admission.optimal_concurrency, admission.tiebreak

    def balanced(i: int) -> tuple[float, ...]:
        row = rows[i]
        stacking = 1 if optimal is not None and row.in_flight >= optimal else 0
        return stacking, row.in_flight, row.window_used, row.last_used, tiebreak[i]

    if admission.strategy == "sequential":
        return lambda i: (contenders[i].tier, i)
    if admission.strategy == "priority":
        return lambda i: (contenders[i].tier, *balanced(i))
    return balanced


def filled_window(admission: Admission, contender: Contender, row: Row) -> float | None:
    """Seconds until the latest-resetting window that admitting ``contender`` leaves without room, if any."""
    waits = [
        resets_in(admission, window)
        for window, (count, previous) in zip(contender.windows, row.counts, strict=True)
        if window.amount
        and window.limit is not None
        and count + previous * admission.carry + 2 * window.amount > window.limit
    ]
    return max(waits) if waits else None


def admitted_writes(admission: Admission, index: int, cursor: str | None) -> list[WriteOp]:
    """The counting an admission of contender ``index`` does beside taking its lease (``cursor`` is the
    sequential cursor's value before it). A degraded replica replays these to the shared store."""
    contender = admission.contenders[index]
    ops: list[WriteOp] = [("set", contender.last_used_key, repr(admission.now).encode(), admission.last_used_ttl)]
    ops += [("incr", w.key, w.amount, w.ttl) for w in contender.windows if w.amount]
    ops += [("incr", key, 1, ttl) for key, ttl in contender.counters]
    if admission.cursor_key is not None and cursor != contender.id:
        ops.append(("set", admission.cursor_key, contender.id.encode(), admission.cursor_ttl))
    reservation = admission.reservation
    if reservation is not None:
        amounts = {name: amount for name, _, amount in reservation.limits if amount}
        if amounts:
            ops.append(("hincr", reservation.key, amounts, reservation.ttl))
    return ops


def over_budget(reservation: Reservation, used: dict[str, int]) -> str | None:
    """The first field of ``reservation`` with no room left in ``used``, else None."""
    for name, limit, amount in reservation.limits:
        if not has_room(used.get(name, 0), limit, amount):
            return name
    return None
