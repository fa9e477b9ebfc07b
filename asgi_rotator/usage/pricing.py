"""The cost of one call, from the first source that knows it.

1. ``provider``: the cost the upstream reported itself (``Usage.provider_cost_usd``).
2. ``config``: the model's configured :class:`~asgi_rotator.config.models.Pricing`, USD per million tokens.
3. ``litellm``: litellm's price table, when litellm is loaded (an app with a ``protocol: litellm`` provider
   loads it when it is built; nothing is imported per request).
4. ``unknown``: no cost (None).

Canonical usage bills each token once: ``input_tokens`` is uncached input, cache reads and writes are separate,
and ``output_tokens`` already include ``reasoning_tokens``. A cost is None whenever a price it needs is missing,
never a guess; :func:`compute_cost` never raises, because accounting must not fail a request.
"""

from __future__ import annotations

import math
from typing import Any

from ..config.models import Pricing
from ..litellm_loader import loaded_litellm
from ..protocols.unified import Usage

_PER_MILLION = 1_000_000


def compute_cost(usage: Usage, pricing: Pricing | None, *, provider: str, model: str) -> tuple[float | None, str]:
    """The cost in USD of one call and where it came from: ``provider``, ``config``, ``litellm`` or ``unknown``.

    Args:
        usage: canonical usage of the call.
        pricing: the configured pricing of ``provider``/``model``, if any.
        provider: the provider name the call went to (for the litellm ``provider/model`` lookup).
        model: the upstream model name.
    """
    try:
        reported = usage.provider_cost_usd
        if reported is not None and math.isfinite(reported) and reported >= 0:
            return float(reported), "provider"
        # Configured pricing, even partial, is the operator's word: a missing price is unknown, not litellm's.
        if pricing is not None and _any_price(pricing):
            cost = _priced(usage, pricing)
            return (cost, "config") if cost is not None else (None, "unknown")
        table_pricing = _litellm_pricing(provider, model)
        if table_pricing is not None:
            cost = _priced(usage, table_pricing)
            return (cost, "litellm") if cost is not None else (None, "unknown")
    except Exception:  # a bad table entry or odd usage must never fail the request it describes
        pass
    return None, "unknown"


def _any_price(pricing: Pricing) -> bool:
    return any(
        price is not None
        for price in (pricing.input, pricing.output, pricing.cache_read, pricing.cache_write, pricing.reasoning)
    )


def _priced(usage: Usage, pricing: Pricing) -> float | None:
    """Cost from per-million prices, or None when a price needed for a non-zero token count is missing."""
    reasoning = min(max(usage.reasoning_tokens, 0), max(usage.output_tokens, 0))
    if pricing.reasoning is not None:
        output_parts = [(usage.output_tokens - reasoning, pricing.output), (reasoning, pricing.reasoning)]
    else:
        output_parts = [(usage.output_tokens, pricing.output)]
    parts = [
        (usage.input_tokens, pricing.input),
        (usage.cache_read_tokens, pricing.cache_read if pricing.cache_read is not None else pricing.input),
        (usage.cache_write_tokens, pricing.cache_write if pricing.cache_write is not None else pricing.input),
        *output_parts,
    ]
    total = 0.0
    for tokens, price in parts:
        if tokens <= 0:
            continue
        if price is None:
            return None
        total += tokens * price
    return total / _PER_MILLION


def _litellm_pricing(provider: str, model: str) -> Pricing | None:
    """litellm's per-token prices for the model as per-million :class:`Pricing`, or None when it has none."""
    module = loaded_litellm()
    if module is None:
        return None
    table = getattr(module, "model_cost", None)
    if not isinstance(table, dict):
        return None
    entry = table.get(model)
    if not isinstance(entry, dict):
        entry = table.get(f"{provider}/{model}")
    if not isinstance(entry, dict):
        return None
    return Pricing(
        input=_per_million(entry, "input_cost_per_token"),
        output=_per_million(entry, "output_cost_per_token"),
        cache_read=_per_million(entry, "cache_read_input_token_cost"),
        cache_write=_per_million(entry, "cache_creation_input_token_cost"),
        reasoning=_per_million(entry, "output_cost_per_reasoning_token"),
    )


def _per_million(entry: dict[str, Any], key: str) -> float | None:
    value = entry.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) * _PER_MILLION
    return None
