from __future__ import annotations

import email.utils
import time

import pytest

from asgi_rotator.error_kinds import kind_for
from asgi_rotator.retry_after import parse_duration, parse_retry_after


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30", 30),
        ("1.5s", 1.5),
        ("1m30s", 90),
        ("143h4m52.73s", 515092.73),
        ("250ms", 0.25),
        ("", None),
        ("soon", None),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_sources():
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "12"}) == 12
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= parse_retry_after({"retry-after": date}) <= 61
    assert parse_retry_after({"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "6s"}) == 90
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 40))
    assert 35 <= parse_retry_after({"anthropic-ratelimit-requests-reset": reset}) <= 41
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}],
        }
    }
    assert parse_retry_after({}, body) == 17
    quota = {
        "error": {
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": {"quotaResetTimeStamp": reset}}
            ]
        }
    }
    assert 35 <= parse_retry_after({}, quota) <= 41
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    "status,native,message,kind",
    [
        (400, None, "bad", "invalid_request"),
        (400, "invalid_request_error", "prompt is too long: 300000 tokens", "context_window_exceeded"),
        (400, "invalid_request_error", "rate limit mentioned in text", "invalid_request"),
        (401, None, None, "authentication"),
        (403, "PERMISSION_DENIED", None, "permission"),
        (429, "RESOURCE_EXHAUSTED", None, "rate_limit"),
        (429, "insufficient_quota", None, "quota_exceeded"),
        (529, "overloaded_error", None, "server_error"),
        (503, "UNAVAILABLE", None, "server_error"),
        (0, "rate_limit_error", "in-stream", "rate_limit"),
        (504, "DEADLINE_EXCEEDED", None, "timeout"),
    ],
)
def test_error_kinds(status, native, message, kind):
    assert kind_for(status, native, message) == kind
