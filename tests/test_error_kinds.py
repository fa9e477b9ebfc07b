from __future__ import annotations

import email.utils
import time

import pytest

from asgi_rotator.error_kinds import Signals, classify, read_signals
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
    "value",
    ["inf", "-inf", "nan", "1e400", "-5", "Wed, 99 Foo 2026 10:00:00 GMT", "Mon, 01 Jan 99999 00:00:00 GMT", "x,y"],
)
def test_unusable_retry_after_is_ignored_and_never_raises(value):
    assert parse_retry_after({"retry-after": value}) is None
    assert parse_retry_after({"retry-after-ms": value}) is None
    assert parse_retry_after({}, {"error": {"details": [{"retryDelay": value}]}}) is None


def test_retry_after_is_clamped():
    assert parse_retry_after({"retry-after": "99999999999"}) == 86400
    assert parse_retry_after({"retry-after": "99999999999"}, limit=600) == 600
    assert parse_retry_after({"anthropic-ratelimit-requests-reset": "9999-12-31T23:59:59Z"}) == 86400


def signals(status, native=None, message="", code=None):
    return Signals(status, message, tuple(c for c in (code,) if c), native.lower() if native else None)


@pytest.mark.parametrize(
    "status,native,message,kind",
    [
        (400, None, "bad", "invalid_request"),
        (400, "invalid_request_error", "prompt is too long: 300000 tokens", "context_window_exceeded"),
        (400, "invalid_request_error", "rate limit mentioned in text", "invalid_request"),
        (401, None, "", "authentication"),
        (403, "PERMISSION_DENIED", "", "permission"),
        (429, "RESOURCE_EXHAUSTED", "", "rate_limit"),
        (503, "UNAVAILABLE", "The model is overloaded.", "server_error"),
        (504, "DEADLINE_EXCEEDED", "", "server_error"),  # the upstream's own timeout: transient, retried
        (413, None, "", "payload_too_large"),
    ],
)
def test_status_then_generic_type(status, native, message, kind):
    assert classify(signals(status, native, message))[0] == kind


@pytest.mark.parametrize(
    "status,body,kind,scope",
    [
        # OpenAI's revoked key: 401 with the generic type of a bad request; the code decides.
        (
            401,
            {"error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": "x"}},
            "authentication",
            None,
        ),
        # Gemini's bad key is a 400 INVALID_ARGUMENT whose ErrorInfo names it.
        (
            400,
            {"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}},
            "authentication",
            None,
        ),
        # Anthropic's empty balance: a 400 of the generic type, told apart by its text.
        (
            400,
            {"type": "error", "error": {"type": "invalid_request_error", "message": "Your credit balance is too low"}},
            "quota_exceeded",
            None,
        ),
        (429, {"error": {"type": "insufficient_quota", "code": "insufficient_quota"}}, "quota_exceeded", None),
        (
            429,
            {
                "error": {
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}],
                }
            },
            "quota_exceeded",
            None,
        ),
        (
            429,
            {
                "error": {
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]}],
                }
            },
            "rate_limit",
            None,
        ),
        (
            503,
            {"error": {"status": "UNAVAILABLE", "message": "No capacity available for model gemini-3-pro"}},
            "server_error",
            "model",
        ),
        (429, {"error": {"details": [{"reason": "MODEL_CAPACITY_EXHAUSTED"}]}}, "server_error", "model"),
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "server_error", None),
        (0, {"error": {"type": "rate_limit_error", "message": "in-stream"}}, "rate_limit", None),
    ],
)
def test_structured_codes_and_text_signals_come_first(status, body, kind, scope):
    assert classify(read_signals(status, body)) == (kind, scope)
