"""The credential pool: picks a credential for each attempt and remembers how each one is doing.

All of its state lives in the state backend (cooldowns as extend-only deadlines, in-flight requests as
expiring leases, windows as counters, session affinity and the sequential cursor as keys with a TTL), so
replicas sharing a backend share one view of the pool. One snapshot read per attempt feeds a pure ranking
(:mod:`.selection`). The pool decides; it does no upstream I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _json
from ..config.models import CredentialConfig, RotatorConfig
from ..errors import GatewayError, NoCredentialAvailable
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace
from .cooldowns import CooldownBook, CooldownDecision, deadline_of
from .identity import Credential, anonymous, from_config
from .limits import Windows
from .selection import Candidate, rank

_POLL_START, _POLL_MAX = 0.02, 0.25
_WINDOW_KEYS = 5


@dataclass(slots=True)
class Lease:
    """A credential held for one attempt; releasing it again does nothing."""

    credential: Credential
    holder: str
    key: str
    model: str
    session: str | None = None
    released: bool = False


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
    ) -> Lease:
        """Take the best ready credential of ``provider`` for ``model``, waiting up to ``max_wait`` for one.

        Raises:
            NoCredentialAvailable: none is ready within ``max_wait`` (its ``retry_after`` says when one will be).
        """
        candidates = self.credentials(provider, scope)
        if not candidates:
            raise NoCredentialAvailable(provider, None, "configured for this caller")
        # The wait is bounded in real time; a cooldown's end is read from the (possibly fake) clock.
        started = time.monotonic()
        deadline = started + max_wait
        delay = _POLL_START
        while True:
            sticky_wait = self._config.sessions.sticky_wait - (time.monotonic() - started)
            lease, retry_after, busy = await self._try_acquire(
                provider, model, candidates, exclude, session, sticky_wait > 0
            )
            if lease is not None:
                return lease
            remaining = deadline - time.monotonic()
            # Wait only for what can free up inside the budget: a busy credential, or a cooldown or cap that
            # ends in time. A longer cooldown fails fast, so that fallback to another target proceeds.
            waitable = busy or (retry_after is not None and retry_after <= remaining)
            if remaining <= 0 or not waitable:
                raise NoCredentialAvailable(provider, retry_after)
            await asyncio.sleep(min(delay, remaining, retry_after or delay))
            delay = min(delay * 2, _POLL_MAX)

    async def _try_acquire(
        self,
        provider: str,
        model: str,
        credentials: list[Credential],
        exclude: frozenset[str],
        session: str | None,
        wait_for_sticky: bool,
    ) -> tuple[Lease | None, float | None, bool]:
        """A lease on the best ready credential, else (None, seconds until one frees up, whether any is busy)."""
        settings = self._config.providers[provider]
        sequential = settings.selection == "sequential"
        min_tier = settings.models[model].min_tier if model in settings.models else None
        scope = credentials[0].scope
        group = self.cooldowns.group_of(provider, model)
        keys: list[str] = []
        for credential in credentials:
            base, group_key = self.cooldowns.credential_keys(credential, model)
            keys += [base, group_key or base, self._keys.last_used(credential), *self.windows.keys(credential, model)]
        affinity_key = self._keys.affinity(scope, provider, group, session) if session else None
        cursor_key = self._keys.cursor(scope, provider, group) if sequential else None
        cycle_key = (
            self._keys.fair_cycle(scope, provider, group) if sequential and settings.fair_cycle.enabled else None
        )
        extra = [k for k in (affinity_key, cursor_key) if k is not None]
        target_keys = self.cooldowns.target_keys(provider, model)
        # The reads at once: with Redis they are separate round trips, and selection waits on all of them.
        values, in_flight, cycles = await asyncio.gather(
            self._backend.get_many(keys + extra + target_keys),
            self._backend.count_leases([self._keys.lease(c) for c in credentials]),
            self._backend.get_counters([cycle_key] if cycle_key else []),
        )
        resting = self.cooldowns.target_cooldown(values[-2:])
        if resting is not None:
            raise NoCredentialAvailable(provider, resting[0], resting=resting[1])
        values = values[:-2]
        tail = dict(zip(extra, values[len(keys) :], strict=True))
        now = self._clock()
        exhausted = set(cycles[0]) if cycles else set()

        candidates: list[Candidate] = []
        width = 3 + _WINDOW_KEYS
        for i, credential in enumerate(credentials):
            row = values[i * width : (i + 1) * width]
            if credential.id in exclude or (min_tier is not None and credential.priority > min_tier):
                continue
            cooling = max((r for r in (_remaining(raw, now) for raw in row[:2]) if r is not None), default=None)
            used_in_window, capped = self.windows.evaluate(
                credential, self.windows.caps(credential, model), list(row[3:])
            )
            candidates.append(
                Candidate(
                    credential,
                    i,
                    in_flight[i],
                    float(row[2] or 0.0),
                    used_in_window,
                    cooling if cooling and cooling > 0 else None,
                    capped,
                    credential.id in exhausted,
                )
            )
        sticky = tail.get(affinity_key) if affinity_key else None
        preferred = (sticky or (tail.get(cursor_key) if cursor_key else None) or b"").decode() or None
        ordered = rank(
            candidates,
            strategy=settings.selection,
            optimal_concurrency=settings.optimal_concurrency,
            preferred=preferred,
        )
        busy = any(c.at_concurrency_cap and c.cooling is None for c in candidates)
        if sticky and wait_for_sticky and ordered and ordered[0].credential.id != preferred:
            held = next((c for c in candidates if c.credential.id == preferred), None)
            if held is not None and held.cooling is None and held.capped is None and held.at_concurrency_cap:
                return None, None, True  # the session's credential is only busy: give it a moment
        for candidate in ordered:
            credential = candidate.credential
            holder = secrets.token_hex(8)
            key = self._keys.lease(credential)
            ops: list[WriteOp] = [("set", self._keys.last_used(credential), repr(now).encode(), 86400.0)]
            ops += self.windows.request_ops(credential, model)
            if cursor_key and preferred != credential.id:
                ops.append(("set", cursor_key, credential.id.encode(), settings.fair_cycle.duration))
            limit = credential.max_concurrency
            if not await self._backend.acquire_lease(key, holder, limit, self._lease_ttl, then=ops):
                busy = True
                continue
            lease = Lease(credential, holder, key, model, session)
            self._track(lease)
            return lease, None, False
        waits = [w for c in candidates for w in (c.cooling, c.capped) if w is not None]
        return None, (min(waits) if waits else None), busy

    async def release(self, lease: Lease, *, served_tokens: int | None = None) -> None:
        """Give the credential's slot back (a second release does nothing).

        After a success, ``served_tokens`` also counts the tokens in the windows, clears the provider's failure
        history and binds the session to the credential, in the same round trip as the release.
        """
        if lease.released:
            return
        lease.released = True
        self._active.pop(lease.holder, None)
        ops: list[WriteOp] = [("release", lease.key, lease.holder, None)]
        if served_tokens is not None:
            provider = lease.credential.provider
            await self.cooldowns.on_success(provider, lease.model)
            ops += self.windows.token_ops(lease.credential, lease.model, served_tokens)
            if lease.session and self._config.sessions.sticky_ttl > 0:
                group = self.cooldowns.group_of(provider, lease.model)
                key = self._keys.affinity(lease.credential.scope, provider, group, lease.session)
                ops.append(("set", key, lease.credential.id.encode(), self._config.sessions.sticky_ttl))
        await self._backend.write_many(ops)

    async def record_failure(self, lease: Lease, provider: str, error: GatewayError) -> CooldownDecision:
        """Cool what the error says is at fault; an exhausted credential also spends its fair-cycle turn."""
        credential = lease.credential
        decision = await self.cooldowns.on_failure(
            provider, lease.model, credential, error, len(self.credentials(provider, credential.scope))
        )
        settings = self._config.providers[provider]
        if decision.cooled_credential and settings.selection == "sequential" and settings.fair_cycle.enabled:
            # One atomic step: when everyone has had a turn, the cycle ends and a new one begins.
            key = self._keys.fair_cycle(credential.scope, provider, self.cooldowns.group_of(provider, lease.model))
            peers = len(self.credentials(provider, credential.scope))
            await self._backend.mark_cycle(key, credential.id, peers, settings.fair_cycle.duration)
            # For display only: which cycle this credential last spent its turn in (checked against it on read).
            await self._backend.set(self._keys.cycle_turn(credential), key.encode(), settings.fair_cycle.duration)
        return decision

    async def states(self) -> list[dict[str, object]]:
        """Every credential's state for ``/rotator/credentials`` (no secret, only the masked form)."""
        credentials = self.all_credentials()
        now = self._clock()
        keys = self._keys
        values = await self._backend.get_many(
            [
                key
                for c in credentials
                for key in (
                    keys.cooldown(c),
                    keys.failure_count(c),
                    keys.cycle_turn(c),
                    self.windows.credential_minute_key(c),
                )
            ]
        )
        in_flight = await self._backend.count_leases([keys.lease(c) for c in credentials])
        turns = [values[4 * i + 2] for i in range(len(credentials))]
        cycles = await self._backend.get_counters([turn.decode() for turn in turns if turn])
        members = iter(cycles)
        rows: list[dict[str, object]] = []
        for i, (credential, busy) in enumerate(zip(credentials, in_flight, strict=True)):
            raw, failed, turn, minute = values[4 * i : 4 * i + 4]
            cycled = turn is not None and credential.id in next(members)
            record = _record(raw)
            remaining = max(deadline_of(raw) - now, 0.0) if raw else 0.0
            if record is not None and remaining > 0:
                state, reason = str(record.get("state", "cooling")), record.get("reason")
            else:
                at_cap = credential.max_concurrency is not None and busy >= credential.max_concurrency
                state, reason = ("busy" if at_cap else "available"), None
            rows.append(
                {
                    "provider": credential.provider,
                    "id": credential.id,
                    "credential": credential.masked,
                    "scope": credential.scope,
                    "tier": credential.priority,
                    "state": state,
                    "reason": reason,
                    "cooldown_scope": "credential" if remaining > 0 else None,
                    "cooldown_remaining": round(remaining, 3),
                    "in_flight": busy,
                    "max_concurrency": credential.max_concurrency,
                    "failures": int(failed or 0),
                    "requests_this_minute": int(minute or 0),
                    "fair_cycle": "exhausted" if cycled else "in_turn",
                }
            )
        return rows

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


def _remaining(raw: bytes | None, now: float) -> float | None:
    return deadline_of(raw) - now if raw else None


def _record(raw: bytes | None) -> dict[str, Any] | None:
    try:
        record = _json.loads(raw) if raw else None
    except _json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
