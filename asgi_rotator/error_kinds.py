"""Error kinds: what an upstream error answer means, as one canonical :data:`~asgi_rotator.errors.ErrorKind`.

Structured signals (the body's error type, code or status) are read before the HTTP status, and hard-stop
signals beat retryable text: a 400 that says "rate" somewhere in its message is still a bad request. Pure
functions, shared by every protocol's ``upstream_error``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import ErrorKind, UpstreamError
from .retry_after import parse_retry_after

#: Kinds that no other credential or target can fix: never retried, never failed over.
HARD_STOPS: frozenset[str] = frozenset({"invalid_request", "context_window_exceeded", "not_found", "cancelled"})
#: Kinds that say something about the credential, not the request.
CREDENTIAL_KINDS: frozenset[str] = frozenset({"authentication", "permission"})

_NATIVE_KINDS: dict[str, ErrorKind] = {
    "invalid_api_key": "authentication",
    "unauthorized": "authentication",
    "unauthenticated": "authentication",
    "authentication_error": "authentication",
    "permission_denied": "permission",
    "permission_error": "permission",
    "forbidden": "permission",
    "invalid_argument": "invalid_request",
    "bad_request": "invalid_request",
    "invalid_request_error": "invalid_request",
    "failed_precondition": "invalid_request",
    "not_found": "not_found",
    "not_found_error": "not_found",
    "model_not_found": "not_found",
    "context_length_exceeded": "context_window_exceeded",
    "insufficient_quota": "quota_exceeded",
    "quota_exceeded": "quota_exceeded",
    "usage_limit_reached": "quota_exceeded",  # Codex: the ChatGPT plan's usage window is used up
    "resource_exhausted": "rate_limit",
    "rate_limit_error": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "rate_limited": "rate_limit",
    "too_many_requests": "rate_limit",
    "overloaded_error": "server_error",
    "unavailable": "server_error",
    "internal": "server_error",
    "api_error": "server_error",
    "server_error": "server_error",
    "deadline_exceeded": "timeout",
    "timeout": "timeout",
}
_CONTEXT_PHRASES = re.compile(
    r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|input token count", re.I
)
_MODEL_CAPACITY = re.compile(r"model_capacity_exhausted|model capacity|capacity exhausted|model is overloaded", re.I)


def kind_for(status: int, native: str | None, message: str | None) -> ErrorKind:
    """The canonical kind for an upstream error."""
    text = message or ""
    mapped = _NATIVE_KINDS.get(native.lower()) if native else None
    if mapped in ("invalid_request", None) and status in (400, 413, 422) and _CONTEXT_PHRASES.search(text):
        return "context_window_exceeded"
    if mapped is not None:
        return mapped
    if status in (400, 413, 422):
        return "invalid_request"
    if status == 401:
        return "authentication"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status == 429:
        return "quota_exceeded" if "insufficient_quota" in text else "rate_limit"
    if status >= 500 or status == 0:
        return "server_error"
    return "invalid_request" if 400 <= status < 500 else "server_error"


def is_model_capacity(message: str | None) -> bool:
    """True when the error says one model is out of capacity (a model-scoped, not provider-wide, problem)."""
    return bool(message and _MODEL_CAPACITY.search(message))


def upstream_error(
    status: int, headers: Mapping[str, str], body: Any, message: str | None, native: str | None, *, provider: str
) -> UpstreamError:
    """An :class:`UpstreamError` for what the upstream answered, with its kind and retry-after."""
    kind = kind_for(status, native, message)
    text = message or f"HTTP {status}"
    return UpstreamError(
        kind,
        f"Upstream {provider} answered {status or 'in-stream'}: {text}",
        upstream_status=status,
        retry_after=parse_retry_after(headers, body),
        details={"native_type": native} if native else None,
    )
