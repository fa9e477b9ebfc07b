"""ASGI middleware: the protocol router (more join it in later modules)."""

from __future__ import annotations

from ..stream_stats import StreamStats
from .router import ProtocolRouter
from .streaming_guard import StreamingGuard

__all__ = ["ProtocolRouter", "StreamStats", "StreamingGuard"]
