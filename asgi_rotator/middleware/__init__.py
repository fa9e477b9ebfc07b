"""ASGI middleware: the protocol router (more join it in later modules)."""

from __future__ import annotations

from .router import ProtocolRouter

__all__ = ["ProtocolRouter"]
