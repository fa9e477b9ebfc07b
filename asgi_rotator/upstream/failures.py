"""What went wrong so far in one request, and what it allows next."""

from __future__ import annotations

import random
from dataclasses import asdict

from ..config.models import RotatorConfig
from ..credentials.pool import CredentialPool, Lease
from ..error_kinds import CREDENTIAL_KINDS, HARD_STOPS, TRANSIENT_KINDS
from ..errors import GatewayError, NoCredentialAvailable, UpstreamError
from ..planner import Plan, Target
from . import decisions
from .call import AttemptRecord, Call

_QUOTA_STREAK = 3


class Failures:
    """Failures of one request: it cools what is at fault and decides whether to retry, move on or stop."""

    def __init__(self, call: Call, plan: Plan, config: RotatorConfig) -> None:
        self.call = call
        self.plan = plan
        self._retries = config.retries
        self.errors: list[GatewayError] = []
        self.targets: list[str] = []
        self.fatal: GatewayError | None = None
        #: Give up on the current target and move to the next one.
        self.next_target = False
        #: The last failure cooled its credential (which keeps it out of selection by itself).
        self.cooled = False
        #: Try the same credential again after ``retry_delay`` seconds (the provider hiccuped).
        self.retry_same = False
        self.retry_delay = 0.0
        self._connect_failures: dict[str, int] = {}
        self._transient_failures: dict[str, int] = {}
        #: Quota errors in a row: three mean the request itself is too big for the quota, not the keys.
        self._quota_streak = 0

    async def record(
        self, pool: CredentialPool, target: Target, lease: Lease, error: GatewayError, duration: float
    ) -> None:
        """Account for a failed attempt before any output reached the client."""
        kind = error.kind
        decision = await pool.record_failure(lease, target.provider, error)
        decisions.cooldown_started(self.call, target, lease, error, decision)
        self.cooled = decision.cooled_credential
        if not isinstance(error, UpstreamError) or kind in HARD_STOPS - {"not_found"}:
            self.fatal = error  # the request itself is at fault: no other credential or target can help
        elif kind == "not_found" or decision.scope in ("model", "provider"):
            self.next_target = True  # this target cannot serve now; another may
        elif kind == "api_connection":
            count = self._connect_failures.get(target.name, 0) + 1
            self._connect_failures[target.name] = count
            if count <= self._retries.connect:
                self._retry(count)
            else:
                self.next_target = True  # the provider is down, not this credential
        elif kind == "timeout":
            self.next_target = True  # the provider is slow; the budget is better spent elsewhere
        elif kind in TRANSIENT_KINDS:
            count = self._transient_failures.get(lease.credential.id, 0) + 1
            self._transient_failures[lease.credential.id] = count
            if count <= self._retries.same_credential:
                self._retry(count)
        # Anything else (an invalid 200, a transient past its retries) moves on to the target's next credential.
        self._quota_streak = self._quota_streak + 1 if kind == "quota_exceeded" else 0
        if self._quota_streak >= _QUOTA_STREAK and self.fatal is None:
            self.fatal = error.evolve(
                message=f"{error.message} ({_QUOTA_STREAK} credentials in a row reported their quota exhausted; "
                "the request is probably too large for this model's quota)"
            )
        group = self.plan.group
        if group is not None and self.fatal is None and (kind in group.stop_on or kind not in group.failover_on):
            self.fatal = error
        if self.call.request.stream and group is not None and group.streaming_policy == "never":
            self.next_target = self.next_target or kind not in CREDENTIAL_KINDS | {"rate_limit", "quota_exceeded"}
            if self.next_target:
                self.fatal = self.fatal or error  # stream fallback across targets is disabled for this group
        status = error.upstream_status if isinstance(error, UpstreamError) else 0
        attempt = AttemptRecord(
            target.name, lease.credential.masked, kind, status, decision.seconds, decision.scope, duration
        )
        self.call.attempts.append(attempt)
        decisions.attempt_failed(self.call, attempt)
        if self.call.trace is not None:
            self.call.trace.record(
                "routing_target_attempt_failed",
                asdict(attempt),
                direction="error",
                component="provider",
                error=error.message,
                fatal=self.fatal is not None,
                next_target=self.next_target,
            )
        self._add(target, error)

    def _retry(self, count: int) -> None:
        """Try the same credential again after a jittered exponential backoff."""
        retries = self._retries
        self.retry_same = True
        self.retry_delay = min(retries.backoff_base * 2 ** (count - 1), retries.backoff_max) * random.uniform(0.5, 1)

    def after_output(self, target: Target, lease: Lease, error: GatewayError, duration: float) -> None:
        """A stream failed after visible output: no retry, no fallback, no cooldown decision."""
        record = AttemptRecord(target.name, lease.credential.masked, error.kind, 0, None, None, duration)
        self.call.attempts.append(record)
        decisions.stream_fallback_blocked(self.call, target, error, record)

    def unavailable(self, target: Target, error: NoCredentialAvailable) -> None:
        """No credential of ``target`` could be had."""
        self._add(target, error)

    def out_of_budget(self, target: Target) -> None:
        """The request's time budget ran out."""
        self._add(target, GatewayError("timeout", "The request's time budget ran out before an upstream answered."))

    def _add(self, target: Target, error: GatewayError) -> None:
        self.errors.append(error)
        if target.name not in self.targets:
            self.targets.append(target.name)

    def final(self) -> GatewayError:
        """The error the client gets once every target is exhausted; it names the targets tried."""
        retry_after: float | None = None
        if self.fatal is not None:
            error = self.fatal
        elif not self.errors:
            error = GatewayError("no_credentials", "No credentials are configured for this model.")
        elif any(e.kind in CREDENTIAL_KINDS for e in self.errors) and all(
            e.kind in CREDENTIAL_KINDS or isinstance(e, NoCredentialAvailable) for e in self.errors
        ):
            # The upstream rejected our keys: the gateway's problem, not the client's (a 401 would make the
            # client's SDK blame its own key).
            error = GatewayError(
                "server_error",
                "Every credential for this model was rejected by the upstream (401/403); check the provider keys.",
                status=502,
            )
        else:
            # "Nothing left to try" says less than the upstream error that used the last credential up.
            telling = [e for e in self.errors if not (isinstance(e, NoCredentialAvailable) and e.retry_after is None)]
            error = (telling or self.errors)[-1]
            if isinstance(error, UpstreamError) and error.kind in ("rate_limit", "quota_exceeded"):
                error = GatewayError("no_credentials", error.message, retry_after=error.retry_after)
            waits = [e.retry_after for e in self.errors if isinstance(e, NoCredentialAvailable) and e.retry_after]
            if error.kind == "no_credentials" and waits:
                retry_after = min(waits)
        message = error.message
        if len(self.targets) > 1 or self.fatal is None:
            message = f"{message} (tried: {', '.join(self.targets)})"
        if self.fatal is None:
            decisions.fallback_exhausted(self.call, self.plan, self.targets, error)
        return error.evolve(
            message=message,
            retry_after=retry_after,
            details={
                "fallback_targets": list(self.targets),
                "attempts": ", ".join(a.header_value() for a in self.call.attempts),
                "attempt_count": len(self.call.attempts),
            },
        )
