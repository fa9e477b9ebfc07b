"""Provider-reported cost, read from whichever of the known shapes an upstream uses.

Looked for in ``usage`` (after merging top-level cost siblings into it), then in ``cost_details`` and
``costMetadata``: first an explicit total (``provider_reported_cost``, ``request_cost_usd``, ``total_cost``,
``total``, ``cost``), else the sum of a breakdown, where ``upstream_inference_cost`` beats its split fields
and ``cost_in_usd_ticks`` counts 1e-10 USD each. An ``estimated_cost`` is the provider's guess, not what it
billed, so it never counts as reported cost (the gateway's own pricing applies instead).
"""

from __future__ import annotations

from typing import Any

_TOTAL_KEYS = ("provider_reported_cost", "request_cost_usd", "total_cost", "total", "cost")
_TOP_LEVEL_KEYS = ("cost", "cost_details", "costMetadata", "cost_in_usd_ticks", "total_cost")
_TICKS_PER_USD = 1e10


def provider_cost(body: dict[str, Any], usage: dict[str, Any] | None) -> float | None:
    """The cost in USD the provider reported for this call, or None when it reported none."""
    merged: dict[str, Any] = dict(usage) if usage else {}
    for key in _TOP_LEVEL_KEYS:
        if key in body and key not in merged:
            merged[key] = body[key]
    if not merged:
        return None
    found = _from_mapping(merged)
    if found is not None:
        return found
    for key in ("cost_details", "costMetadata"):
        nested = merged.get(key)
        if isinstance(nested, dict):
            found = _from_mapping(nested)
            if found is not None:
                return found
    return None


def _from_mapping(mapping: dict[str, Any]) -> float | None:
    for key in _TOTAL_KEYS:
        value = mapping.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    total: float | None = None
    if _is_number(mapping.get("upstream_inference_cost")):
        total = float(mapping["upstream_inference_cost"])
    else:
        parts = [
            float(v)
            for k, v in mapping.items()
            if k.endswith("_cost") and not k.startswith("estimated") and _is_number(v)
        ]
        if parts:
            total = sum(parts)
    ticks = mapping.get("cost_in_usd_ticks")
    if isinstance(ticks, int | float) and not isinstance(ticks, bool):
        total = (total or 0.0) + float(ticks) / _TICKS_PER_USD
    return total


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
