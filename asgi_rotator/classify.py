"""Error classification shared by every protocol: status, headers and structured bodies to a canonical kind.

Structured signals (the body's error type, code or status) are read before the HTTP status, and hard-stop
signals beat retryable text: a 400 that says "rate" somewhere in its message is still a bad request.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import ErrorKind, UpstreamError

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


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_duration(text: str) -> float | None:
    """Seconds in ``"30"``, ``"1.5s"``, ``"1m30s"``, ``"143h4m52.73s"`` or ``"250ms"``; None if unparseable."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _seconds_until(timestamp: str) -> float | None:
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def parse_retry_after(headers: Mapping[str, str], body: Any = None) -> float | None:
    """Seconds to wait before retrying, from every source a provider uses; None when none says.

    Headers: ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), OpenAI ``x-ratelimit-reset-*``
    durations and Anthropic ``anthropic-ratelimit-*-reset`` timestamps. Bodies: Google RPC ``RetryInfo``
    (``retryDelay``) and ``ErrorInfo.metadata.quotaResetTimeStamp``.
    """
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        seconds = parse_duration(value)
        if seconds is not None:
            return seconds
        parsed = email.utils.parsedate_to_datetime(value) if "," in value else None
        if parsed is not None:
            return max(parsed.timestamp() - time.time(), 0.0)
    waits = [
        parse_duration(headers[name])
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if name in headers
    ]
    waits += [
        _seconds_until(headers[name])
        for name in (
            "anthropic-ratelimit-requests-reset",
            "anthropic-ratelimit-tokens-reset",
            "anthropic-ratelimit-input-tokens-reset",
            "anthropic-ratelimit-output-tokens-reset",
        )
        if name in headers
    ]
    known = [w for w in waits if w is not None]
    if known:
        return max(known)
    return _retry_from_body(body)


def _retry_from_body(body: Any) -> float | None:
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return None
    for detail in details:
        if not isinstance(detail, dict):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            seconds = parse_duration(delay)
            if seconds is not None:
                return seconds
        metadata = detail.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("quotaResetTimeStamp"), str):
            seconds = _seconds_until(metadata["quotaResetTimeStamp"])
            if seconds is not None:
                return seconds
    return None
