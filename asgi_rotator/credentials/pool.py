"""The credential pool: picks a credential for each attempt and remembers how each one is doing.

All of its state lives in the state backend (cooldowns as extend-only deadlines, in-flight requests as
expiring leases, last use as a timestamp), so replicas sharing a backend share one view of the pool. The
pool decides; it does no upstream I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import _json
from ..config.models import RotatorConfig
from ..errors import GatewayError
from ..state.base import StateBackend
from .identity import Credential, fingerprint, mask

#: A lease outlives its replica by at most this long; live requests renew it well before.
LEASE_TTL = 60.0
_RENEW_EVERY = LEASE_TTL / 3
_POLL_START, _POLL_MAX = 0.02, 0.25


@dataclass(slots=True)
class Lease:
    """A credential held for one attempt. Release it exactly once."""

    credential: Credential
    holder: str
    key: str


@dataclass(slots=True)
class CredentialState:
    """A credential's current state, as ``/rotator/credentials`` shows it."""

    credential: Credential
    state: str  # available | cooling | benched | busy
    cooldown_remaining: float
    reason: str | None
    in_flight: int


class NoCredentialAvailable(GatewayError):
    """Every credential of a provider is cooling or busy. ``retry_after`` is when the first frees up."""

    def __init__(self, provider: str, retry_after: float | None) -> None:
        wait = f"; retry in {retry_after:.0f}s" if retry_after else ""
        super().__init__(
            "no_credentials", f"No credential of provider {provider!r} is available{wait}.", retry_after=retry_after
        )
        self.provider = provider


class CredentialPool:
    """Credentials per provider and scope, with selection, cooldowns and concurrency caps.

    Args:
        config: the validated configuration (credentials come from ``providers`` and ``scopes``).
        backend: where cooldowns, leases and usage timestamps live.
        clock: Unix time; tests pass a fake one.
    """

    def __init__(self, config: RotatorConfig, backend: StateBackend, *, clock: Callable[[], float] = time.time):
        self._backend = backend
        self._clock = clock
        #: Rest for a 429 that names no retry-after, and for a credential the upstream rejected.
        self.default_cooldown = config.cooldowns.rate_limit_default
        self.bench_seconds = config.cooldowns.auth_bench
        self._prefix = config.state.prefix
        fp_key = config.state.fingerprint_key.get_secret_value().encode() if config.state.fingerprint_key else None
        self._pools: dict[tuple[str | None, str], list[Credential]] = {}
        for name, provider in config.providers.items():
            self._pools[(None, name)] = [
                Credential(
                    name,
                    fingerprint(c.key.get_secret_value(), fp_key),
                    mask(c.key.get_secret_value()),
                    c.priority,
                    c.max_concurrency,
                    None,
                    c.key.get_secret_value(),
                )
                for c in provider.credentials
            ]
        for scope, scope_config in config.scopes.items():
            for name, scoped in scope_config.providers.items():
                self._pools[(scope, name)] = [
                    Credential(
                        name,
                        fingerprint(c.key.get_secret_value(), fp_key),
                        mask(c.key.get_secret_value()),
                        c.priority,
                        c.max_concurrency,
                        scope,
                        c.key.get_secret_value(),
                    )
                    for c in scoped.credentials
                ]
        self._active: dict[str, Lease] = {}
        self._renewer: asyncio.Task[None] | None = None

    def credentials(self, provider: str, scope: str | None = None) -> list[Credential]:
        """The credentials a request of ``scope`` may use for ``provider`` (a scope never sees global ones)."""
        return self._pools.get((scope, provider), [])

    def all_credentials(self) -> list[Credential]:
        """Every credential, global and scoped."""
        return [c for pool in self._pools.values() for c in pool]

    def _key(self, kind: str, credential: Credential) -> str:
        return f"{self._prefix}{kind}:{credential.scope or '-'}:{credential.provider}:{credential.id}"

    async def acquire(
        self,
        provider: str,
        *,
        scope: str | None = None,
        exclude: frozenset[str] = frozenset(),
        max_wait: float = 0.0,
    ) -> Lease:
        """Take the best available credential of ``provider``, waiting up to ``max_wait`` for one.

        Raises:
            NoCredentialAvailable: none is free within ``max_wait`` (its ``retry_after`` says when one will be).
        """
        candidates = self.credentials(provider, scope)
        if not candidates:
            raise NoCredentialAvailable(provider, None)
        # The wait is bounded in real time: a cooldown's end is read from the (possibly fake) clock.
        deadline = time.monotonic() + max_wait
        delay = _POLL_START
        while True:
            lease, retry_after, busy = await self._try_acquire(candidates, exclude)
            if lease is not None:
                return lease
            remaining = deadline - time.monotonic()
            # Wait only for something that can free up inside the budget: a busy credential, or a cooldown
            # that ends in time. A longer cooldown fails fast so that fallback to another target proceeds.
            waitable = busy or (retry_after is not None and retry_after <= remaining)
            if remaining <= 0 or not waitable:
                raise NoCredentialAvailable(provider, retry_after)
            await asyncio.sleep(min(delay, remaining, retry_after or delay))
            delay = min(delay * 2, _POLL_MAX)

    async def _try_acquire(
        self, candidates: list[Credential], exclude: frozenset[str]
    ) -> tuple[Lease | None, float | None, bool]:
        """A lease on the best ready credential, else (None, seconds until the first cooldown ends, any busy)."""
        now = self._clock()
        keys = [self._key("cool", c) for c in candidates] + [self._key("used", c) for c in candidates]
        values = await self._backend.get_many(keys)
        in_flight = await self._backend.count_leases([self._key("lease", c) for c in candidates])
        n = len(candidates)
        ready: list[tuple[int, int, float, float, Credential]] = []
        earliest: float | None = None
        busy = False
        for i, credential in enumerate(candidates):
            cooling = values[i]
            if cooling is not None:
                until = float(_json.loads(cooling)["until"])
                if until > now:
                    earliest = until - now if earliest is None else min(earliest, until - now)
                    continue
            if credential.id in exclude:
                continue
            if credential.max_concurrency is not None and in_flight[i] >= credential.max_concurrency:
                busy = True
                continue
            last_used = float(values[n + i] or 0.0)
            ready.append((credential.priority, in_flight[i], last_used, random.random(), credential))
        ready.sort(key=lambda entry: entry[:4])
        for _, _, _, _, credential in ready:
            holder = secrets.token_hex(8)
            key = self._key("lease", credential)
            if await self._backend.acquire_lease(key, holder, credential.max_concurrency, LEASE_TTL):
                await self._backend.set(self._key("used", credential), repr(now).encode(), ttl=86400)
                lease = Lease(credential, holder, key)
                self._track(lease)
                return lease, None, False
            busy = True
        return None, earliest, busy

    async def release(self, lease: Lease) -> None:
        """Give the credential's slot back."""
        self._active.pop(lease.holder, None)
        await self._backend.release_lease(lease.key, lease.holder)

    async def cool_down(self, credential: Credential, seconds: float, reason: str, *, bench: bool = False) -> float:
        """Rest ``credential`` for ``seconds`` (never shortening a longer cooldown); returns the seconds in force."""
        until = self._clock() + seconds
        payload = _json.dumps({"until": until, "reason": reason, "state": "benched" if bench else "cooling"})
        deadline, _ = await self._backend.extend_deadline(self._key("cool", credential), until, payload)
        await self._backend.incr(self._key("failures", credential), ttl=86400)
        return deadline - self._clock()

    async def states(self) -> list[CredentialState]:
        """Every credential's current state."""
        credentials = self.all_credentials()
        now = self._clock()
        cooling = await self._backend.get_many([self._key("cool", c) for c in credentials])
        in_flight = await self._backend.count_leases([self._key("lease", c) for c in credentials])
        states = []
        for credential, raw, busy in zip(credentials, cooling, in_flight, strict=True):
            record = _json.loads(raw) if raw else None
            remaining = max(float(record["until"]) - now, 0.0) if record else 0.0
            if remaining > 0 and record is not None:
                state, reason = record["state"], record["reason"]
            else:
                state, reason = (
                    ("busy" if credential.max_concurrency and busy >= credential.max_concurrency else "available"),
                    None,
                )
            states.append(CredentialState(credential, state, round(remaining, 3), reason, busy))
        return states

    def _track(self, lease: Lease) -> None:
        self._active[lease.holder] = lease
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        # Long requests outlive LEASE_TTL; renewing from one task per process keeps the per-request path
        # free of timers, and a dead replica simply stops renewing.
        while self._active:
            await asyncio.sleep(_RENEW_EVERY)
            for lease in list(self._active.values()):
                with contextlib.suppress(Exception):
                    await self._backend.renew_lease(lease.key, lease.holder, LEASE_TTL)

    async def aclose(self) -> None:
        """Stop the lease renewer."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
