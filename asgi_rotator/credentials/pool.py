"""The credential pool: picks a credential for each attempt and remembers how each one is doing.

All of its state lives in the state backend (cooldowns as extend-only deadlines, in-flight requests as
expiring leases, windows as counters, session affinity and the sequential cursor as keys with a TTL), so
replicas sharing a backend share one view of the pool. Each attempt is one atomic admission
(:mod:`asgi_rotator.state.admission`) that reads, ranks, checks caps and counts at once. The pool decides; it
does no upstream I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.models import CredentialConfig, RotatorConfig
from ..errors import GatewayError, NoCredentialAvailable
from ..ids import unique_hex
from ..state.admission import Admission, Contender
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace
from .budget import BudgetHold
from .cooldowns import CooldownBook, CooldownDecision
from .identity import Credential, anonymous, from_config
from .limits import Windows
from .states import read_states

_POLL_START, _POLL_MAX = 0.02, 0.25


@dataclass(slots=True)
class Lease:
    """A credential held for one attempt; releasing it again does nothing."""

    credential: Credential
    holder: str
    key: str
    model: str
    session: str | None = None
    released: bool = False
    #: Seconds :meth:`CredentialPool.acquire` waited for a credential to come off cooldown or free a slot.
    waited: float = 0.0
    #: The caller's own key for one request: outside the pool, so nothing about it is counted or cooled.
    own: bool = False


def own_lease(provider: str, model: str, secret: str) -> Lease:
    """A lease of the caller's own key (bring-your-own-key) for one request: it never enters the pool or the
    state backend, and its release and failures record nothing."""
    credential = Credential(provider, "own-key", "own key", secret=secret)
    return Lease(credential, holder="", key="", model=model, released=True, own=True)


class CredentialPool:
    """Credentials per provider and scope, with selection, cooldowns, caps and concurrency limits.

    Args:
        config: the validated configuration (credentials come from ``providers`` and ``scopes``; a keyless
            provider, ``auth: none``, has one implied anonymous credential).
        backend: where all pool state lives.
        keys: the keyspace its state lives under.
        clock: Unix time; tests pass a fake one.
    """

    def __init__(
        self,
        config: RotatorConfig,
        backend: StateBackend,
        keys: Keyspace,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self._config = config
        self._backend = backend
        self._keys = keys
        self._clock = clock
        # A lease outlives its replica by at most this long; live requests renew it well before.
        self._lease_ttl = config.state.lease_ttl
        self.cooldowns = CooldownBook(config, backend, keys, clock=clock)
        self.windows = Windows(config, keys, self.cooldowns.group_of, clock=clock)
        fp_key = config.state.fingerprint_key.get_secret_value().encode() if config.state.fingerprint_key else None
        self._pools: dict[tuple[str | None, str], list[Credential]] = {}
        sources: list[tuple[str | None, str, list[CredentialConfig]]]
        sources = [(None, name, p.credentials) for name, p in config.providers.items()]
        sources += [
            (scope, name, scoped.credentials)
            for scope, s in config.scopes.items()
            for name, scoped in s.providers.items()
        ]
        for scope, name, entries in sources:
            if scope is None and config.providers[name].auth == "none":
                self._pools[(scope, name)] = [anonymous(name)]
                continue
            self._pools[(scope, name)] = [from_config(name, c, scope, fp_key) for c in entries]
        self._active: dict[str, Lease] = {}
        self._renewer: asyncio.Task[None] | None = None
        #: Each credential as a contender for a model, built once a minute (its windows' keys name the minute).
        #: Bounded, since clients choose model names.
        self._contenders: dict[tuple[str | None, str, str, str], tuple[int, Contender]] = {}

    def credentials(self, provider: str, scope: str | None = None) -> list[Credential]:
        """The credentials a request of ``scope`` may use for ``provider`` (a scope never sees global ones)."""
        return self._pools.get((scope, provider), [])

    def all_credentials(self) -> list[Credential]:
        """Every credential, global and scoped."""
        return [c for pool in self._pools.values() for c in pool]

    async def acquire(
        self,
        provider: str,
        model: str,
        *,
        scope: str | None = None,
        exclude: frozenset[str] = frozenset(),
        max_wait: float = 0.0,
        session: str | None = None,
        anchors: tuple[str, ...] = (),
        budget: BudgetHold | None = None,
    ) -> Lease:
        """Take the best ready credential of ``provider`` for ``model``, waiting up to ``max_wait`` for one.

        ``anchors`` are the keys of conversation evidence that may name an earlier ``session`` (the lease says
        which); ``budget`` is the caller's budget: its first admission reserves it, in the same atomic step.

        Raises:
            NoCredentialAvailable: none is ready within ``max_wait`` (its ``retry_after`` says when one will be).
            BudgetExceeded: the caller's budget for the period is used up.
        """
        candidates = self.credentials(provider, scope)
        if not candidates:
            raise NoCredentialAvailable(provider, None, "configured for this caller")
        # The wait is bounded in real time; a cooldown's end is read from the (possibly fake) clock.
        started = time.monotonic()
        deadline = started + max_wait
        delay = _POLL_START
        slept = False
        while True:
            sticky_wait = self._config.sessions.sticky_wait - (time.monotonic() - started)
            lease, retry_after, busy = await self._try_acquire(
                provider, model, candidates, exclude, (session, anchors), sticky_wait > 0, budget
            )
            if lease is not None:
                if slept:
                    lease.waited = time.monotonic() - started
                return lease
            remaining = deadline - time.monotonic()
            # Wait only for what can free up inside the budget: a busy credential, or a cooldown or cap that
            # ends in time. A longer cooldown fails fast, so that fallback to another target proceeds.
            waitable = busy or (retry_after is not None and retry_after <= remaining)
            if remaining <= 0 or not waitable:
                # Every credential only busy: a slot frees as soon as a request ends, so say "retry shortly".
                raise NoCredentialAvailable(provider, retry_after if retry_after is not None or not busy else 1.0)
            await asyncio.sleep(min(delay, remaining, retry_after or delay))
            slept = True
            delay = min(delay * 2, _POLL_MAX)

    async def _try_acquire(
        self,
        provider: str,
        model: str,
        credentials: list[Credential],
        exclude: frozenset[str],
        conversation: tuple[str | None, tuple[str, ...]],
        wait_for_sticky: bool,
        budget: BudgetHold | None,
    ) -> tuple[Lease | None, float | None, bool]:
        """A lease on the best ready credential, else (None, seconds until one frees up, whether any is busy).

        One atomic admission decides and counts (windows, caps, the budget reservation), so concurrent
        requests on any number of replicas land exactly on a cap.
        """
        session, anchors = conversation
        settings = self._config.providers[provider]
        sequential = settings.selection == "sequential"
        fair_cycle = sequential and settings.fair_cycle.enabled
        min_tier = settings.models[model].min_tier if model in settings.models else None
        scope = credentials[0].scope
        group = self.cooldowns.group_of(provider, model)
        eligible = [c for c in credentials if c.id not in exclude and (min_tier is None or c.priority <= min_tier)]
        now = self._clock()
        minute = int(now // 60)
        contenders = tuple(self._contender(credential, model, minute) for credential in eligible)
        carry, minute_left, day_left = self.windows.clocks(provider, now)
        reservation = budget.reservation() if budget is not None and not budget.taken else None
        holder = unique_hex(8)
        admission = Admission(
            contenders=contenders,
            holder=holder,
            lease_ttl=self._lease_ttl,
            now=now,
            strategy=settings.selection,
            optimal_concurrency=settings.optimal_concurrency,
            target_cooldowns=tuple(self.cooldowns.target_keys(provider, model)),
            affinity_key=self._keys.affinity(scope, provider, group, session) if session else None,
            anchor_keys=anchors,
            affinity_prefix=self._keys.affinity(scope, provider, group, ""),
            wait_for_sticky=wait_for_sticky,
            cursor_key=self._keys.cursor(scope, provider, group) if sequential else None,
            cursor_ttl=settings.fair_cycle.duration,
            cycle_key=self._keys.fair_cycle(scope, provider, group) if fair_cycle else None,
            reservation=reservation,
            tiebreak=tuple(random.random() for _ in contenders),
            carry=carry,
            minute_left=minute_left,
            day_left=day_left,
        )
        decision = await self._backend.admit(admission)
        if decision.outcome == "resting":
            scope_name = ("model", "provider")[decision.rest or 0]
            raise NoCredentialAvailable(provider, decision.retry_after, resting=scope_name)
        if decision.outcome == "over_budget":
            assert budget is not None and decision.retry_after is not None
            raise budget.exceeded(decision.exceeded or "", decision.retry_after)
        if decision.index is None:
            return None, decision.retry_after, decision.busy
        if budget is not None and reservation is not None:
            budget.taken = True
        credential = eligible[decision.index]
        lease = Lease(credential, holder, contenders[decision.index].lease_key, model, decision.session or session)
        self._track(lease)
        if decision.filled is not None:
            await self._cap_reached(credential, model, decision.filled)
        return lease, None, False

    def _contender(self, credential: Credential, model: str, minute: int) -> Contender:
        """``credential`` as a contender for ``model`` in ``minute`` (Unix time // 60): built once a minute."""
        cache_key = (credential.scope, credential.provider, credential.id, model)
        found = self._contenders.get(cache_key)
        if found is not None and found[0] == minute:
            return found[1]
        if len(self._contenders) >= 10_000:
            self._contenders.clear()
        base, group_key = self.cooldowns.credential_keys(credential, model)
        contender = Contender(
            id=credential.id,
            lease_key=self._keys.lease(credential),
            max_concurrency=credential.max_concurrency,
            cooldown_keys=(base, group_key) if group_key else (base,),
            last_used_key=self._keys.last_used(credential),
            tier=credential.priority,
            windows=self.windows.windows(credential, model, minute),
            counters=((self.windows.credential_minute_key(credential, minute), 90.0),),
        )
        self._contenders[cache_key] = (minute, contender)
        return contender

    async def _cap_reached(self, credential: Credential, model: str, resets_in: float) -> None:
        """The cap's ``cooldown`` mode, once a credential used a window up (rare: one write per window)."""
        seconds = self.windows.caps(credential, model).cap_cooldown(resets_in)
        if seconds is not None:
            decision = await self.cooldowns.on_cap(credential, model, seconds)
            await self._spend_turn(credential, model, decision)

    async def release(self, lease: Lease) -> None:
        """Give the credential's slot back after a failed attempt (a second release does nothing)."""
        ops = self.release_ops(lease)
        if ops:
            await self._backend.write_many(ops)

    def release_ops(self, lease: Lease, *, served_tokens: int | None = None) -> list[WriteOp]:
        """The writes that give the credential's slot back (none when it already was), for the batch that
        finishes a request.

        After a success, ``served_tokens`` also counts the tokens in the windows, clears the provider's failure
        history and binds the session to the credential.
        """
        if lease.released:
            return []
        lease.released = True
        self._active.pop(lease.holder, None)
        ops: list[WriteOp] = [("release", lease.key, lease.holder, None)]
        if served_tokens is not None:
            provider = lease.credential.provider
            ops += self.cooldowns.success_ops(provider, lease.model)
            ops += self.windows.token_ops(lease.credential, lease.model, served_tokens)
            if lease.session and self._config.sessions.sticky_ttl > 0:
                group = self.cooldowns.group_of(provider, lease.model)
                key = self._keys.affinity(lease.credential.scope, provider, group, lease.session)
                ops.append(("set", key, lease.credential.id.encode(), self._config.sessions.sticky_ttl))
        return ops

    async def record_failure(self, lease: Lease, provider: str, error: GatewayError) -> CooldownDecision:
        """Cool what the error says is at fault; a credential cooled for at least the fair cycle's
        ``exhaustion_threshold`` also spends its turn."""
        if lease.own:
            return CooldownDecision()  # the caller's own key is the caller's business
        credential = lease.credential
        decision = await self.cooldowns.on_failure(
            provider, lease.model, credential, error, len(self.credentials(provider, credential.scope))
        )
        await self._spend_turn(credential, lease.model, decision)
        return decision

    async def _spend_turn(self, credential: Credential, model: str, decision: CooldownDecision) -> None:
        """A credential resting at least the fair cycle's ``exhaustion_threshold`` spends its turn."""
        provider = credential.provider
        settings = self._config.providers[provider]
        cycle = settings.fair_cycle
        exhausted = decision.cooled_credential and (decision.seconds or 0.0) >= cycle.exhaustion_threshold
        if exhausted and settings.selection == "sequential" and cycle.enabled:
            # One atomic step: when everyone has had a turn, the cycle ends and a new one begins.
            key = self._keys.fair_cycle(credential.scope, provider, self.cooldowns.group_of(provider, model))
            peers = len(self.credentials(provider, credential.scope))
            await self._backend.mark_cycle(key, credential.id, peers, settings.fair_cycle.duration)
            # For display only: which cycle this credential last spent its turn in (checked against it on read).
            await self._backend.set(self._keys.cycle_turn(credential), key.encode(), settings.fair_cycle.duration)

    async def states(self) -> list[dict[str, object]]:
        """Every credential's state for ``/rotator/credentials`` (no secret, only the masked form)."""
        return await read_states(
            self.all_credentials(), self._config, self._backend, self._keys, self.windows, self._clock()
        )

    def _track(self, lease: Lease) -> None:
        self._active[lease.holder] = lease
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        # Long requests outlive the lease TTL; renewing from one task per process keeps the per-request path
        # free of timers, and a dead replica simply stops renewing.
        while self._active:
            await asyncio.sleep(self._lease_ttl / 3)
            held = [(lease.key, lease.holder) for lease in self._active.values()]
            with contextlib.suppress(Exception):
                await self._backend.renew_leases(held, self._lease_ttl)

    async def aclose(self) -> None:
        """Stop the lease renewer."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
