"""Finding a preset among the API-key and subscription presets, and merging it under a provider's own fields.

``preset: NAME`` on a provider merges the preset *under* the provider's own fields: a field the provider sets
wins, except the mappings ``headers`` and ``query``, which merge key by key (the provider's keys win). A keyless
preset (``auth: none``, the local servers) given credentials sends them the protocol's usual way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .presets import PRESETS
from .subscriptions import SUBSCRIPTION_PRESETS

#: Preset fields that are mappings and merge key by key with the provider's own.
_MERGED_MAPPINGS = ("headers", "query")


def all_presets() -> dict[str, dict[str, Any]]:
    """Every preset: the API-key ones and the subscription ones."""
    return {**PRESETS, **SUBSCRIPTION_PRESETS}


def preset(name: str) -> dict[str, Any]:
    """A copy of the preset called ``name``.

    Raises:
        ValueError: no such preset (the message lists the known ones).
    """
    presets = all_presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(presets))}")
    return copy.deepcopy(presets[name])


def apply_preset(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` (a provider's own, as written) over the preset they name in ``preset``, if any."""
    name = fields.get("preset")
    if name is None:
        return dict(fields)
    base = preset(str(name))
    merged = dict(base)
    for key, value in fields.items():
        if key in _MERGED_MAPPINGS and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    if base.get("auth") == "none" and "auth" not in fields and fields.get("credentials"):
        del merged["auth"]  # a local server run with a key: send it the protocol's usual way
    return merged
