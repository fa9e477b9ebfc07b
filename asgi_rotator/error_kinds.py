"""Error kinds: what an upstream error answer means, as one canonical :data:`~asgi_rotator.errors.ErrorKind`.

Read in this order (DESIGN.md section 6, "Real providers' errors"):

1. structured reason codes: OpenAI ``error.code`` (``invalid_api_key``, ``insufficient_quota``...),
   Anthropic's specific ``error.type`` (``authentication_error``, ``overloaded_error``...), Gemini's
   ``ErrorInfo.reason`` (``API_KEY_INVALID``, ``MODEL_CAPACITY_EXHAUSTED``...) and ``QuotaFailure`` violations;
2. known text signals: Anthropic's empty credit balance, capacity phrases, context-window phrases;
3. the HTTP status, for 401, 403, 404, 408, 413, 429, 5xx and 529;
4. a generic body type (``invalid_request_error``, ``INVALID_ARGUMENT``), which decides only among plain 400s.

So OpenAI's revoked key (401 with type ``invalid_request_error``, code ``invalid_api_key``), Gemini's bad key
(400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``) and Anthropic's empty balance (400 "credit balance
is too low") are the credential's problem, never the client's. A model out of capacity cools the model, not
the key (``details["cooldown_scope"] == "model"``). Pure functions, shared by every protocol.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ErrorKind, UpstreamError
from .retry_after import parse_retry_after

#: Kinds that no other credential or target can fix: never retried, never failed over.
HARD_STOPS: frozenset[str] = frozenset(
    {"invalid_request", "context_window_exceeded", "not_found", "cancelled", "payload_too_large"}
)
#: Kinds that say something about the credential, not the request.
CREDENTIAL_KINDS: frozenset[str] = frozenset({"authentication", "permission"})
#: Kinds worth another try on the same credential after a short backoff (the provider hiccuped).
TRANSIENT_KINDS: frozenset[str] = frozenset({"server_error", "api_connection"})

#: Structured reason codes, by their lower-cased spelling: the most specific signal an error carries.
_CODES: dict[str, ErrorKind] = {
    # OpenAI error.code
    "invalid_api_key": "authentication",
    "account_deactivated": "permission",
    "unsupported_country_region_territory": "permission",
    "insufficient_quota": "quota_exceeded",
    "billing_hard_limit_reached": "quota_exceeded",
    "usage_limit_reached": "quota_exceeded",  # Codex: the ChatGPT plan's usage window is used up
    "rate_limit_exceeded": "rate_limit",
    "context_length_exceeded": "context_window_exceeded",
    "string_above_max_length": "context_window_exceeded",
    "model_not_found": "not_found",
    # Anthropic error.type (the specific ones; invalid_request_error is generic)
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "request_too_large": "payload_too_large",
    "overloaded_error": "server_error",
    "api_error": "server_error",
    # Gemini ErrorInfo.reason
    "api_key_invalid": "authentication",
    "api_key_expired": "authentication",
    "access_token_expired": "authentication",
    "api_key_service_blocked": "permission",
    "consumer_suspended": "permission",
    "service_disabled": "permission",
    "rate_limit_exceeded_per_user": "rate_limit",
    "quota_exhausted": "quota_exceeded",
    "model_capacity_exhausted": "server_error",
    "capacity_exhausted": "server_error",
    "resource_project_invalid": "authentication",
}
#: Reason codes that say one model is out of capacity: cool the model, not the key.
_CAPACITY_CODES = frozenset({"model_capacity_exhausted", "capacity_exhausted"})
#: Generic body types and statuses, decisive only for a plain 400 (or a status the HTTP code does not cover).
_GENERIC: dict[str, ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "invalid_argument": "invalid_request",
    "bad_request": "invalid_request",
    "failed_precondition": "invalid_request",
    "unauthenticated": "authentication",
    "permission_denied": "permission",
    "not_found": "not_found",
    "resource_exhausted": "rate_limit",
    "unavailable": "server_error",
    "internal": "server_error",
    "server_error": "server_error",
    "deadline_exceeded": "timeout",
}
_STATUSES: dict[int, ErrorKind] = {
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    429: "rate_limit",
}
_CREDIT = re.compile(r"credit balance is too low|insufficient (credits|balance)|out of credits", re.I)
_CAPACITY = re.compile(
    r"no capacity available|model[_ ]capacity[_ ]exhausted|capacity[_ -]exhausted|model capacity", re.I
)
_CONTEXT = re.compile(
    r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|input token count", re.I
)


@dataclass(frozen=True, slots=True)
class Signals:
    """What an upstream error answer says about itself, read once from any of the three body shapes."""

    status: int
    message: str
    #: Structured reason codes, lower-cased (OpenAI code, Anthropic type, Gemini ErrorInfo reasons).
    codes: tuple[str, ...] = ()
    #: The generic body type or status (``invalid_request_error``, ``INVALID_ARGUMENT``), lower-cased.
    generic: str | None = None
    #: Gemini ``QuotaFailure`` quota ids.
    quota_ids: tuple[str, ...] = ()


def read_signals(status: int, body: Any) -> Signals:
    """Pull the message, codes and quota ids out of an OpenAI, Anthropic or Gemini error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return Signals(status, error)
    if not isinstance(error, dict):
        return Signals(status, "")
    message = error.get("message")
    codes: list[str] = []
    generic: str | None = None
    code = error.get("code")
    if isinstance(code, str):
        codes.append(code.lower())
    kind = error.get("type") or error.get("status")
    if isinstance(kind, str):
        if kind.lower() in _CODES:
            codes.append(kind.lower())
        else:
            generic = kind.lower()
    quota_ids: list[str] = []
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        reason = detail.get("reason")
        if isinstance(reason, str):
            codes.insert(0, reason.lower())  # Gemini's reason is more specific than its status
        for violation in detail.get("violations") or ():
            if isinstance(violation, dict) and isinstance(violation.get("quotaId"), str):
                quota_ids.append(violation["quotaId"])
    return Signals(status, message if isinstance(message, str) else "", tuple(codes), generic, tuple(quota_ids))


def classify(signals: Signals) -> tuple[ErrorKind, str | None]:
    """``(kind, cooldown scope hint)``: the hint is ``"model"`` when a model is out of capacity."""
    for code in signals.codes:
        kind = _CODES.get(code)
        if kind is not None:
            if code in _CAPACITY_CODES or kind == "server_error" and _CAPACITY.search(signals.message):
                return "server_error", "model"
            if kind == "rate_limit" and any("perday" in q.lower() for q in signals.quota_ids):
                return "quota_exceeded", None
            return kind, None
    text = signals.message
    if _CREDIT.search(text):
        return "quota_exceeded", None
    if _CAPACITY.search(text):
        return "server_error", "model"
    status = signals.status
    if status in (400, 413, 422) and _CONTEXT.search(text):
        return "context_window_exceeded", None
    if status == 429 and any("perday" in q.lower() for q in signals.quota_ids):
        return "quota_exceeded", None
    if status in _STATUSES:
        return _STATUSES[status], None
    if status >= 500:
        return "server_error", None
    generic = _GENERIC.get(signals.generic or "")
    if generic is not None:
        return generic, None
    if 400 <= status < 500:
        return "invalid_request", None
    return "server_error", None  # status 0: an error inside a 200 stream with nothing more specific


def upstream_error(
    status: int, headers: Mapping[str, str], body: Any, *, provider: str, max_retry_after: float = 86400.0
) -> UpstreamError:
    """An :class:`UpstreamError` for what the upstream answered, with its kind and (clamped) retry-after."""
    signals = read_signals(status, body)
    kind, scope = classify(signals)
    details: dict[str, Any] = {}
    if signals.codes or signals.generic:
        details["native_type"] = (signals.codes or (signals.generic,))[0]
    if scope is not None:
        details["cooldown_scope"] = scope
    return UpstreamError(
        kind,
        f"Upstream {provider} answered {status or 'in-stream'}: {signals.message or f'HTTP {status}'}",
        upstream_status=status,
        retry_after=parse_retry_after(headers, body, limit=max_retry_after),
        details=details,
    )
