"""Retry-after: how long an upstream asks to be left alone, from every place providers put it."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_duration(text: str) -> float | None:
    """Seconds in ``"30"``, ``"1.5s"``, ``"1m30s"``, ``"143h4m52.73s"`` or ``"250ms"``; None if unparseable,
    negative or not finite."""
    text = text.strip()
    if not text:
        return None
    try:
        return _usable(float(text))
    except ValueError:
        pass
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return _usable(hours * 3600 + minutes * 60 + seconds + millis / 1000)


def _usable(seconds: float) -> float | None:
    """``seconds`` if it can be a wait: finite and not negative (a wait already over is 0)."""
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until(timestamp: str) -> float | None:
    if timestamp.strip().isdigit():  # epoch seconds
        return _usable(max(float(timestamp) - time.time(), 0.0))
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        return _usable(max(moment.timestamp() - time.time(), 0.0))
    except (ValueError, OverflowError, OSError):
        return None


def _http_date(value: str) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(value)
        return _usable(max(moment.timestamp() - time.time(), 0.0))
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def parse_retry_after(headers: Mapping[str, str], body: Any = None, *, limit: float = 86400.0) -> float | None:
    """Seconds to wait before retrying, from every source a provider uses; None when none says. Never raises.

    Headers: ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), OpenAI ``x-ratelimit-reset-*``
    durations and Anthropic ``anthropic-ratelimit-*-reset`` timestamps. Bodies: Google RPC ``RetryInfo``
    (``retryDelay``), ``ErrorInfo.metadata.quotaResetTimeStamp`` and ``quotaResetDelay`` (Code Assist), and
    Codex's ``error.resets_in_seconds`` / ``error.resets_at``; Anthropic's subscription windows'
    ``anthropic-ratelimit-unified-reset`` is in epoch seconds. A value that is unparsable, not finite or
    negative is ignored (the caller's default applies); a finite one is clamped to ``limit``
    (``cooldowns.max``), so no stored deadline is ever absurd or non-finite.
    """
    seconds = _first_wait(headers, body)
    return None if seconds is None else min(seconds, limit)


def _first_wait(headers: Mapping[str, str], body: Any) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        millis = parse_duration(value)
        if millis is not None:
            return millis / 1000
    value = headers.get("retry-after")
    if value:
        seconds = parse_duration(value)
        if seconds is None and "," in value:
            seconds = _http_date(value)
        if seconds is not None:
            return seconds
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
            "anthropic-ratelimit-unified-reset",
        )
        if name in headers
    ]
    known = [w for w in waits if w is not None]
    if known:
        return max(known)
    return _retry_from_body(body)


def _retry_from_body(body: Any) -> float | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        resets_in, resets_at = error.get("resets_in_seconds"), error.get("resets_at")
        if isinstance(resets_in, int | float) and not isinstance(resets_in, bool):
            return _usable(float(resets_in))
        if isinstance(resets_at, int | float) and not isinstance(resets_at, bool):
            return _usable(max(float(resets_at) - time.time(), 0.0))
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
        if isinstance(metadata, dict) and isinstance(metadata.get("quotaResetDelay"), str):
            seconds = parse_duration(metadata["quotaResetDelay"])
            if seconds is not None:
                return seconds
    return None
