"""Per-stream measurements, shared by ``StreamingGuard`` and the gateway's own streams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: How a stream can end.
OUTCOMES = ("completed", "failed", "ttfb_timeout", "stall_timeout", "disconnected", "error")


@dataclass(slots=True)
class StreamStats:
    """One stream's timings (``time.monotonic()`` readings) and counts.

    ``first_byte`` is the first byte from whoever produces the stream (the upstream, for the gateway);
    ``first_token`` the first output a user would see (the guard cannot tell content from framing, so it leaves
    this unset).
    """

    started: float
    first_byte: float | None = None
    first_token: float | None = None
    chunks: int = 0
    bytes: int = 0
    finished: float | None = None
    outcome: str = "completed"

    @property
    def ttfb(self) -> float | None:
        """Seconds to the first byte."""
        return None if self.first_byte is None else self.first_byte - self.started

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds to the first visible output."""
        return None if self.first_token is None else self.first_token - self.started

    @property
    def duration(self) -> float | None:
        """Seconds from the request to the end of the stream."""
        return None if self.finished is None else self.finished - self.started

    def summary(self) -> dict[str, Any]:
        """The metrics as a trace records them: milliseconds, counts and the outcome."""
        return {
            "outcome": self.outcome,
            "ttfb_ms": _ms(self.ttfb),
            "first_token_ms": _ms(self.time_to_first_token),
            "duration_ms": _ms(self.duration),
            "chunks": self.chunks,
            "bytes": self.bytes,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
