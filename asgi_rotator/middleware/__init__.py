"""ASGI middleware: the protocol router (more join it in later modules)."""

from __future__ import annotations

from ..streaming.metrics import StreamMetrics
from .guard import StreamingGuard
from .router import ProtocolRouter

__all__ = ["ProtocolRouter", "StreamMetrics", "StreamingGuard"]
