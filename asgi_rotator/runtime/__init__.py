"""Runtime configuration: providers, scopes and credentials added, changed and removed without a restart,
kept in the state backend so every replica applies them (see docs/beyond-chat.md)."""

from __future__ import annotations

from .service import RuntimeConfig

__all__ = ["RuntimeConfig"]
