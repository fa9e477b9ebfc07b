"""The one table that maps reasoning requests between protocols.

OpenAI Chat ``reasoning_effort`` and Responses ``reasoning.effort`` speak in levels; Anthropic
``thinking.budget_tokens`` and Gemini ``thinkingConfig.thinkingBudget`` speak in tokens; Gemini 3 also takes
``thinkingLevel`` (low | high).

    effort    budget_tokens   Gemini thinkingLevel
    minimal   1024            low
    low       2048            low
    medium    8192            high
    high      24576           high

A budget maps back to the smallest effort whose budget covers it. Anthropic requires a budget of at least
1024 and below ``max_tokens``; :func:`anthropic_budget` enforces both.

OpenAI models without reasoning reject ``reasoning_effort`` (and ``reasoning.effort``), so a thinking setting
from another protocol becomes one only for the reasoning families (:func:`takes_effort`: o-series, gpt-5,
gpt-oss, codex); for any other model it is dropped with a warning. A client of the provider's own protocol
gets exactly what it sent.
"""

from __future__ import annotations

import re

from .unified import ReasoningConfig

EFFORT_BUDGETS: dict[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
EFFORT_LEVELS: dict[str, str] = {"minimal": "low", "low": "low", "medium": "high", "high": "high"}
ANTHROPIC_MIN_BUDGET = 1024


_REASONING_FAMILY = re.compile(r"(?:o\d|gpt-5|gpt-oss|codex)", re.IGNORECASE)


def takes_effort(model: str) -> bool:
    """True for OpenAI reasoning model families, which take an effort level (the name's last ``/`` segment)."""
    return _REASONING_FAMILY.match(model.rpartition("/")[2]) is not None


def budget_for(config: ReasoningConfig) -> int | None:
    """Tokens to budget for ``config``, or None when it asks for no particular budget."""
    if config.budget_tokens is not None:
        return config.budget_tokens
    if config.effort is not None:
        return EFFORT_BUDGETS.get(config.effort, EFFORT_BUDGETS["medium"])
    return None


def effort_for(config: ReasoningConfig) -> str | None:
    """The effort level for ``config``, or None when it asks for none."""
    if config.effort is not None:
        return config.effort
    if config.budget_tokens is None:
        return None
    for effort, budget in EFFORT_BUDGETS.items():
        if config.budget_tokens <= budget:
            return effort
    return "high"


def level_for(config: ReasoningConfig) -> str | None:
    """Gemini 3's ``thinkingLevel`` for ``config``."""
    effort = effort_for(config)
    return EFFORT_LEVELS.get(effort) if effort else None


def anthropic_budget(config: ReasoningConfig, max_tokens: int) -> int | None:
    """A valid Anthropic ``budget_tokens`` (at least 1024, below ``max_tokens``), or None if none fits."""
    budget = budget_for(config)
    if budget is None:
        return None
    budget = max(budget, ANTHROPIC_MIN_BUDGET)
    if budget >= max_tokens:
        budget = max_tokens - 1
    return budget if budget >= ANTHROPIC_MIN_BUDGET else None


def is_disabled(config: ReasoningConfig | None) -> bool:
    """True when the client explicitly turned reasoning off."""
    return config is not None and config.enabled is False
