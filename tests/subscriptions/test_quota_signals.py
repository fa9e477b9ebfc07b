"""Subscription plans say when their windows reset in their own words; each becomes the cooldown."""

from __future__ import annotations

import time
from typing import Any

import pytest

from asgi_rotator.protocols import get_protocol
from asgi_rotator.retry_after import parse_retry_after


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {"error": {"type": "usage_limit_reached", "resets_in_seconds": 5400}}, 5400),
        ({}, {"error": {"type": "usage_limit_reached", "resets_at": int(time.time()) + 7200}}, 7200),
        ({"anthropic-ratelimit-unified-reset": str(int(time.time()) + 3600)}, None, 3600),
        (
            {},
            {
                "error": {
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"reason": "QUOTA_EXHAUSTED", "metadata": {"quotaResetDelay": "3h12m5s"}}],
                }
            },
            11525,
        ),
    ],
    ids=["codex_resets_in", "codex_resets_at", "claude_unified", "code_assist_delay"],
)
def test_reset_times_of_subscription_windows(headers: dict[str, str], body: Any, expected: float) -> None:
    assert parse_retry_after(headers, body) == pytest.approx(expected, abs=2)


def test_codex_usage_limit_is_quota_until_its_reset() -> None:
    body = {
        "error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "resets_in_seconds": 900,
        }
    }
    error = get_protocol("openai_responses").upstream_error(429, body, {})
    assert (error.kind, error.retry_after) == ("quota_exceeded", 900)
