"""The executor's decisions as trace passes and OpenTelemetry attempt spans, one small call per decision.

Each function records one of the trace contract's routing, cooldown or stream passes (names from the seed)
when the call is traced, and keeps the request's attempt spans when OpenTelemetry is on; with both off each is
two attribute checks. The executor and :class:`~asgi_rotator.upstream.failures.Failures` call them where the
decision is made, and nothing here decides anything.

    routing_decision                        the candidates, the chosen target and why (before any attempt)
    routing_target_attempt_started          a credential was leased for a target (and cooldown_wait before it,
                                            when the pool waited for a cooling or busy credential)
    cooldown_wait_exceeds_budget            no credential frees up within the wait the budget allows
    provider_cooldown_started               a failure cooled a scope: scope, seconds, source of the duration
    routing_fallback_selected               the next target of the plan takes over, and why
    routing_fallback_exhausted              every target was tried; the error the client gets
    routing_stream_fallback_blocked_after_output   a stream failed after visible output: no fallback
    stream_first_byte                       the upstream stream answered
    stream_ttfb_timeout / stream_stall_timeout     the upstream stream went silent too long
    conversion_warnings                     what a provider protocol's builder dropped for a target

``attempt_succeeded`` and ``attempt_failed`` add each attempt to the request's summary and end its span.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..credentials.cooldowns import CooldownDecision
from ..credentials.pool import Lease
from ..errors import GatewayError, NoCredentialAvailable
from ..planner import Plan, Target
from ..protocols.unified import ConversionWarning
from ..tracing.writer import RequestTrace
from .call import AttemptRecord, Call


def routing_decision(call: Call, plan: Plan, aliases: Mapping[str, str]) -> None:
    """The targets a request may go to, in order, the first one chosen, and why."""
    trace = call.trace
    if trace is None:
        return
    requested = call.request.model
    first = plan.targets[0]
    if requested in aliases:
        resolved = f"alias {requested!r} resolves to {first.name}"
    elif requested.partition("/")[0] == first.provider and "/" in requested:
        resolved = f"the model names provider {first.provider!r}"
    else:
        resolved = f"bare model name served by the only matching provider {first.provider!r}"
    if plan.group is not None:
        why = f"{resolved}; first of fallback group {list(plan.group.targets)} (the requested target leads)"
    else:
        why = f"{resolved}; no fallback group"
    trace.record(
        "routing_decision",
        {
            "requested_model": requested,
            "candidates": [t.name for t in plan.targets],
            "chosen": first.name,
            "reason": why,
            "fallback_group": list(plan.group.targets) if plan.group is not None else None,
            "streaming_policy": plan.group.streaming_policy if plan.group is not None else None,
            "session": call.session,
        },
        direction="metadata",
        component="provider",
    )


def attempt_started(call: Call, target: Target, lease: Lease, scope: str | None) -> None:
    """A credential of ``target`` was leased for an attempt (after waiting for it, if the pool had to)."""
    credential = lease.credential
    observation = call.observation
    if observation is not None and observation.span is not None:
        observation.span.attempt_started(target.provider, target.model, credential.masked)
    trace = call.trace
    if trace is None:
        return
    if lease.waited:
        trace.record(
            "cooldown_wait",
            {"target": target.name, "waited_seconds": round(lease.waited, 3), "masked_credential": credential.masked},
            direction="metadata",
            component="provider",
        )
    trace.record(
        "routing_target_attempt_started",
        {
            "target": target.name,
            "masked_credential": credential.masked,
            "credential_scope": scope,
            "selection": target.config.selection,
            "attempt": len(call.attempts) + 1,
        },
        direction="metadata",
        component="provider",
        provider=target.provider,
        model=target.model,
        credential=credential.masked,
    )


def cooldown_wait_exceeds_budget(call: Call, target: Target, error: NoCredentialAvailable, max_wait: float) -> None:
    """No credential of ``target`` was ready, and the earliest one frees up later than the request may wait."""
    trace = call.trace
    if trace is None or error.retry_after is None or error.retry_after <= max_wait:
        return
    trace.record(
        "cooldown_wait_exceeds_budget",
        {"target": target.name, "ready_in_seconds": round(error.retry_after, 3), "max_wait": round(max_wait, 3)},
        direction="metadata",
        component="provider",
    )


def cooldown_started(call: Call, target: Target, lease: Lease, error: GatewayError, decision: CooldownDecision) -> None:
    """A failed attempt cooled something: which scope, for how long, and where the duration came from."""
    trace = call.trace
    if trace is None or decision.scope is None:
        return
    trace.record(
        "provider_cooldown_started",
        {
            "scope": decision.scope,
            "seconds": decision.seconds,
            "source": decision.source,
            "reason": error.kind,
            "target": target.name,
            "masked_credential": lease.credential.masked if decision.scope in ("credential", "quota_group") else None,
            "retry_after": error.retry_after,
        },
        direction="metadata",
        component="provider",
        provider=target.provider,
        model=target.model,
        credential=lease.credential.masked,
    )


def attempt_succeeded(call: Call, target: Target, record: AttemptRecord) -> None:
    """The attempt serves the client: the request's summary names the target and credential (its span stays
    open until the request span ends, which gives it the usage)."""
    observation = call.observation
    if observation is not None:
        summary = observation.summary
        summary.target, summary.provider, summary.credential = target.name, target.provider, record.credential
        summary.attempts.append(_attempt_json(record))


def attempt_failed(call: Call, record: AttemptRecord) -> None:
    """The current attempt failed before any output: the summary lists it, its span ends with the outcome and
    the cooldown it caused."""
    observation = call.observation
    if observation is not None:
        observation.summary.attempts.append(_attempt_json(record))
        if observation.span is not None:
            observation.span.attempt_failed(record.outcome, record.status, record.cooldown_scope, record.cooldown)


def _attempt_json(record: AttemptRecord) -> dict[str, object]:
    return {
        "target": record.target,
        "credential": record.credential,
        "outcome": record.outcome,
        "status": record.status or None,
        "duration_ms": round(record.duration * 1000, 3),
        "cooldown_scope": record.cooldown_scope,
        "cooldown_seconds": record.cooldown,
    }


def fallback_selected(call: Call, previous: Target, target: Target, errors: list[GatewayError]) -> None:
    """The plan moves on from ``previous`` to ``target``."""
    trace = call.trace
    if trace is None:
        return
    # The upstream's own error says more than "no credential left" after it.
    telling = [e for e in errors if not isinstance(e, NoCredentialAvailable)] or errors
    trace.record(
        "routing_fallback_selected",
        {"from": previous.name, "to": target.name, "reason": telling[-1].kind if telling else "no_credentials"},
        direction="metadata",
        component="provider",
    )


def fallback_exhausted(call: Call, plan: Plan, tried: list[str], error: GatewayError) -> None:
    """Every target of the plan was tried; ``error`` goes to the client."""
    trace = call.trace
    if trace is None:
        return
    trace.record(
        "routing_fallback_exhausted",
        {
            "candidates": [t.name for t in plan.targets],
            "tried": tried,
            "error": error.kind,
            "status": error.status,
            "retry_after": error.retry_after,
        },
        direction="error",
        component="provider",
    )


def stream_fallback_blocked(call: Call, target: Target, error: GatewayError, record: AttemptRecord) -> None:
    """A stream failed after the client saw output: it ends in-band, with no retry and no fallback."""
    attempt_failed(call, record)
    trace = call.trace
    if trace is None:
        return
    trace.record(
        "routing_stream_fallback_blocked_after_output",
        {"target": target.name, "error": error.kind, "message": error.message},
        direction="error",
        component="provider",
    )


def stream_first_byte(call: Call, target: Target, seconds: float) -> None:
    """The upstream stream answered (its response headers arrived)."""
    if call.trace is not None:
        call.trace.record(
            "stream_first_byte",
            {"target": target.name, "ttfb_ms": round(seconds * 1000, 3)},
            direction="metadata",
            component="provider",
        )


def stream_timeout(call: Call, target: Target, error: GatewayError) -> None:
    """``stream_ttfb_timeout`` or ``stream_stall_timeout``, when ``error`` is one of those timeouts."""
    which = error.details.get("stream_timeout")
    if call.trace is not None and which in ("ttfb", "stall"):
        call.trace.record(
            f"stream_{which}_timeout",
            {"target": target.name, "message": error.message},
            direction="error",
            component="provider",
        )


def conversion_warnings(trace: RequestTrace | None, target: Target, warnings: list[ConversionWarning]) -> None:
    """What the provider protocol's builder dropped on the way to ``target`` (one pass, only when it did)."""
    if trace is not None and warnings:
        trace.record(
            "conversion_warnings",
            [
                {
                    "code": w.code,
                    "field": w.field,
                    "message": w.message,
                    "from": w.source_protocol,
                    "to": w.target_protocol,
                }
                for w in warnings
            ],
            direction="metadata",
            component="provider",
            provider=target.provider,
            model=target.model,
        )
