"""Subscription plans say when their windows reset in their own words; each becomes the cooldown."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from asgi_rotator.protocols import get_protocol
from asgi_rotator.retry_after import parse_retry_after


def _codex_resets_in(now: int) -> tuple[dict[str, str], Any]:
    return {}, {"error": {"type": "usage_limit_reached", "resets_in_seconds": 5400}}


def _codex_resets_at(now: int) -> tuple[dict[str, str], Any]:
    return {}, {"error": {"type": "usage_limit_reached", "resets_at": now + 7200}}


def _claude_unified(now: int) -> tuple[dict[str, str], Any]:
    return {"anthropic-ratelimit-unified-reset": str(now + 3600)}, None


def _code_assist_delay(now: int) -> tuple[dict[str, str], Any]:
    detail = {"reason": "QUOTA_EXHAUSTED", "metadata": {"quotaResetDelay": "3h12m5s"}}
    return {}, {"error": {"status": "RESOURCE_EXHAUSTED", "details": [detail]}}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(_codex_resets_in, 5400), (_codex_resets_at, 7200), (_claude_unified, 3600), (_code_assist_delay, 11525)],
    ids=["codex_resets_in", "codex_resets_at", "claude_unified", "code_assist_delay"],
)
def test_reset_times_of_subscription_windows(
    answer: Callable[[int], tuple[dict[str, str], Any]], expected: float
) -> None:
    headers, body = answer(int(time.time()))
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
