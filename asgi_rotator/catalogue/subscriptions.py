"""Subscription presets (claude_code, codex, copilot, gemini_cli, antigravity, qwen_code, iflow).

Each entry has the same shape as :data:`asgi_rotator.catalogue.presets.PRESETS`: the provider fields a user
would write in YAML. :func:`asgi_rotator.catalogue.preset` looks names up here as well, so a preset added to
this dict is usable as ``preset: NAME`` and appears in the generated preset table.
"""

from __future__ import annotations

from typing import Any

#: Subscription presets by name (OAuth and token-exchange providers).
SUBSCRIPTION_PRESETS: dict[str, dict[str, Any]] = {}
