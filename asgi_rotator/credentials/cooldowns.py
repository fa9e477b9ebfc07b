"""Cooldowns at every scope, kept in the state backend so that replicas honour each other's.

    credential            a 429 (or a quota) on a key; a 401/403 benches it. Without a retry-after, rate
                          limits escalate (10, 30, 60, 120 s, capped at 300 s by default) while they keep
                          coming; quota errors rest the key for ``cooldowns.quota_exceeded``
    credential + group    the same, when the model belongs to a declared quota group: its other models
                          share the cooldown, models outside the group do not
    model                 a model out of capacity, or transient failures concentrated on one model
    provider              transient failures spread over several models and credentials

Every cooldown is an extend-only deadline: re-cooling never shortens one. A retry-after the provider sent
beats any computed backoff, clamped to ``cooldowns.max``; records hold only finite numbers, and a record that
cannot be read counts as no cooldown rather than failing a request. A success clears the provider's failure
history the transient backoff is computed from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import _json
from ..config.models import RotatorConfig
from ..error_kinds import CREDENTIAL_KINDS
from ..errors import GatewayError, UpstreamError
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace
from .identity import Credential

_TRANSIENT = frozenset({"server_error", "api_connection", "timeout", "upstream_invalid"})
_HISTORY_LENGTH = 200
#: A credential rate-limited on this many models within ``_LOCKOUT`` seconds is locked out that long (seed).
_LOCKOUT_MODELS, _LOCKOUT = 3, 300.0


@dataclass(frozen=True, slots=True)
class CooldownDecision:
    """What a failure did: the scope it cooled (if any), for how long, and where that duration came from."""

    scope: str | None = None  # credential | quota_group | model | provider
    seconds: float | None = None
    #: retry_after (the upstream said), or the configured rule: rate_limit_steps, quota_exceeded, auth_bench,
    #: model_capacity, backoff.
    source: str | None = None

    @property
    def cooled_credential(self) -> bool:
        """True when the failing credential itself is now resting."""
        return self.scope in ("credential", "quota_group")


class CooldownBook:
    """Reads and writes cooldowns for the pool (selection) and the executor (failures)."""

    def __init__(
        self, config: RotatorConfig, backend: StateBackend, keys: Keyspace, *, clock: Callable[[], float] = time.time
    ):
        self._config = config
        self._rules = config.cooldowns
        self._backend = backend
        self._keys = keys
        self._clock = clock
        self._groups: dict[tuple[str, str], str] = {
            (provider, model): group
            for provider, p in config.providers.items()
            for group, models in p.quota_groups.items()
            for model in models
        }
        #: Providers this process saw fail recently: only then does a success pay a round trip to clear them.
        self._recent_failures: set[str] = set()

    def group_of(self, provider: str, model: str) -> str:
        """The quota group ``model`` belongs to at ``provider``, or the model itself."""
        return self._groups.get((provider, model), model)

    def credential_keys(self, credential: Credential, model: str) -> tuple[str, str | None]:
        """The cooldown keys that can hold ``credential`` back for ``model``."""
        group = self._groups.get((credential.provider, model))
        return self._keys.cooldown(credential), (self._keys.group_cooldown(credential, group) if group else None)

    def _model_key(self, provider: str, model: str) -> str:
        return self._keys.model_cooldown(provider, self.group_of(provider, model))

    def _provider_key(self, provider: str) -> str:
        return self._keys.provider_cooldown(provider)

    def target_keys(self, provider: str, model: str) -> list[str]:
        """The keys whose cooldowns rest a whole target: its model (or quota group), then its provider."""
        return [self._model_key(provider, model), self._provider_key(provider)]

    def target_cooldown(self, records: list[bytes | None]) -> tuple[float, str] | None:
        """``(seconds left, scope)`` when the records of :meth:`target_keys` say the target rests, else None."""
        now = self._clock()
        longest: tuple[float, str] | None = None
        for raw, scope in zip(records, ("model", "provider"), strict=True):
            if raw is not None:
                remaining = deadline_of(raw) - now
                if remaining > 0 and (longest is None or remaining > longest[0]):
                    longest = (remaining, scope)
        return longest

    async def _cool(self, key: str, seconds: float, reason: str, state: str) -> float:
        seconds = min(max(seconds, 0.0), self._rules.max) if math.isfinite(seconds) else self._rules.max
        until = self._clock() + seconds
        payload = _json.dumps({"until": until, "reason": reason, "state": state})
        deadline, _ = await self._backend.extend_deadline(key, until, payload)
        return deadline - self._clock()

    async def on_failure(
        self, provider: str, model: str, credential: Credential, error: GatewayError, credential_count: int
    ) -> CooldownDecision:
        """Cool whatever ``error`` says is at fault; returns the decision for the attempt history."""
        kind = error.kind
        if not isinstance(error, UpstreamError):
            return CooldownDecision()
        await self._backend.incr(self._keys.failure_count(credential), ttl=86400)
        if error.details.get("cooldown_scope") == "model":
            rest = error.retry_after or self._rules.model_capacity
            return CooldownDecision(
                "model",
                await self._cool(self._model_key(provider, model), rest, "model_capacity", "cooling"),
                "retry_after" if error.retry_after else "model_capacity",
            )
        if kind in ("rate_limit", "quota_exceeded"):
            base, group_key = self.credential_keys(credential, model)
            key = group_key or base
            seconds = error.retry_after
            if seconds is None and kind == "quota_exceeded":
                seconds = self._rules.quota_exceeded
            elif seconds is None:
                level = await self._backend.incr(self._keys.backoff_level(key), ttl=2 * self._rules.rate_limit_cap)
                seconds = self._escalated(level)
            assert seconds is not None
            scope = "quota_group" if group_key else "credential"
            if error.retry_after is not None:
                source = "retry_after"
            else:
                source = "quota_exceeded" if kind == "quota_exceeded" else "rate_limit_steps"
            decision = CooldownDecision(scope, await self._cool(key, seconds, kind, "cooling"), source)
            return await self._lockout(credential, model) or decision
        if kind in CREDENTIAL_KINDS:
            base, _ = self.credential_keys(credential, model)
            seconds = await self._cool(base, self._rules.auth_bench, kind, "benched")
            return CooldownDecision("credential", seconds, "auth_bench")
        if kind in _TRANSIENT:
            return await self._transient(provider, model, credential, error, credential_count)
        return CooldownDecision()

    def _escalated(self, level: int) -> float:
        """The seed's schedule for the ``level``-th rate limit in a row without a retry-after."""
        steps = self._rules.rate_limit_steps
        return min(steps[min(level, len(steps)) - 1], self._rules.rate_limit_cap)

    async def on_cap(self, credential: Credential, model: str, seconds: float) -> CooldownDecision:
        """Rest a credential that reached a cap whose ``cooldown`` asks for longer than the window."""
        base, group_key = self.credential_keys(credential, model)
        scope = "quota_group" if group_key else "credential"
        return CooldownDecision(scope, await self._cool(group_key or base, seconds, "cap_reached", "capped"))

    async def _lockout(self, credential: Credential, model: str) -> CooldownDecision | None:
        """Lock a credential out for ``_LOCKOUT`` seconds once it was limited on ``_LOCKOUT_MODELS`` models (or
        quota groups) within that time: the limit is the key's, not one model's."""
        key = self._keys.failed_models(credential)
        if not await self._backend.mark_cycle(
            key, self.group_of(credential.provider, model), _LOCKOUT_MODELS, _LOCKOUT
        ):
            return None
        reason = f"limited on {_LOCKOUT_MODELS} models"
        return CooldownDecision(
            "credential", await self._cool(self._keys.cooldown(credential), _LOCKOUT, reason, "locked")
        )

    async def _transient(
        self, provider: str, model: str, credential: Credential, error: GatewayError, credential_count: int
    ) -> CooldownDecision:
        now = self._clock()
        history_key = self._keys.failure_history(provider)
        entry = _json.dumps({"t": now, "c": credential.id, "m": self.group_of(provider, model)})
        await self._backend.append(history_key, entry, _HISTORY_LENGTH, ttl=self._rules.provider_window)
        self._recent_failures.add(provider)
        recent = [
            e
            for e in map(_json.loads, await self._backend.list(history_key))
            if e["t"] > now - self._rules.provider_window
        ]
        if len(recent) < self._rules.provider_threshold:
            return CooldownDecision()
        models = {e["m"] for e in recent}
        credentials = {e["c"] for e in recent}
        if len(models) >= 2 and len(credentials) >= min(2, credential_count):
            scope, key = "provider", self._provider_key(provider)
        elif models == {self.group_of(provider, model)}:
            # Trouble concentrated on one model: rest that model, never the provider's others.
            scope, key = "model", self._model_key(provider, model)
        else:
            return CooldownDecision()
        level = await self._backend.incr(self._keys.backoff_level(key), ttl=self._rules.provider_backoff_max * 4)
        backoff = min(self._rules.provider_backoff_base * 2 ** (level - 1), self._rules.provider_backoff_max)
        seconds = error.retry_after or backoff
        source = "retry_after" if error.retry_after else "backoff"
        return CooldownDecision(scope, await self._cool(key, seconds, error.kind, "cooling"), source)

    def success_ops(self, provider: str, model: str) -> list[WriteOp]:
        """The writes by which a success resets the failure history and backoff levels of ``provider`` (none
        unless this process saw it fail recently)."""
        if provider not in self._recent_failures:
            return []
        self._recent_failures.discard(provider)
        keys = (
            self._keys.failure_history(provider),
            self._keys.backoff_level(self._model_key(provider, model)),
            self._keys.backoff_level(self._provider_key(provider)),
        )
        return [("delete", key, None, None) for key in keys]


def deadline_of(raw: bytes) -> float:
    """The ``until`` of a stored cooldown record; a record that cannot be read is no cooldown (0)."""
    try:
        until = float(_json.loads(raw)["until"])
    except (ValueError, TypeError, KeyError):
        return 0.0
    return until if math.isfinite(until) else 0.0
