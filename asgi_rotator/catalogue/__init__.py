"""The provider catalogue: presets a provider names with ``preset: NAME``, and the environment's providers.

A preset is a dict of provider fields, exactly what a user would write under ``providers.<name>`` in YAML.
:func:`preset` finds one among the API-key presets (:mod:`.presets`) and the subscription presets
(:mod:`.subscriptions`); :func:`apply_preset` merges one under a provider's explicit fields.

This package is pure data and dict work: it imports nothing of the request flow, so the config layer can use it.
"""

from __future__ import annotations

from .merge import all_presets, apply_preset, preset
from .presets import NOTES, PRESETS

__all__ = ["NOTES", "PRESETS", "all_presets", "apply_preset", "preset"]
