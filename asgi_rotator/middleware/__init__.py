"""ASGI middleware: the protocol router (more join it in later modules)."""

from __future__ import annotations

from .guard import StreamingGuard, StreamMetrics
from .router import ProtocolRouter

__all__ = ["ProtocolRouter", "StreamMetrics", "StreamingGuard"]
