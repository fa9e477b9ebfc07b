"""Server-sent events: a stateful decoder for upstream streams and the encoder for client streams.

The decoder follows the WHATWG rules that matter in practice: ``data:`` with or without the space, several
``data:`` lines joined by newlines, ``event:`` names, comments (``: ...``) and CRLF or LF line ends (real
Gemini streams use CRLF), with fields and events split anywhere across network chunks.
"""

from __future__ import annotations

from . import _json
from .errors import SSEEventTooLarge
from .protocols.base import Frame


class SSEDecoder:
    """Feed it raw bytes as they arrive; it returns the complete events so far as ``(event, data)`` pairs.

    Comment lines are returned as ``("comment", text)`` only when ``keep_comments`` is set (cost frames
    ride on comments); otherwise they are dropped. Work is linear in the bytes fed, however a line is split,
    and an event (or a line without an end) longer than ``max_event_bytes`` raises :class:`SSEEventTooLarge`.
    """

    __slots__ = ("_buffer", "_event", "_data", "_size", "_keep_comments", "_max")

    def __init__(self, *, keep_comments: bool = False, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0
        self._keep_comments = keep_comments
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """Decode a chunk and return every event it completed."""
        buffer = self._buffer
        searched = len(buffer)  # the bytes already held have no line end: search only what is new
        buffer += chunk
        events: list[tuple[str | None, str]] = []
        start = 0
        while True:
            end = buffer.find(b"\n", max(start, searched))
            if end < 0:
                break
            line = bytes(buffer[start:end])
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._size += len(line)
            self._line(line.decode("utf-8", "replace"), events)
        del buffer[:start]
        if len(buffer) + self._size > self._max:
            raise SSEEventTooLarge(self._max)
        return events

    def flush(self) -> list[tuple[str | None, str]]:
        """Return a final event left unterminated when the stream ended."""
        events: list[tuple[str | None, str]] = []
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace").rstrip("\r"), events)
            self._buffer.clear()
        self._line("", events)
        return events

    def _line(self, line: str, events: list[tuple[str | None, str]]) -> None:
        if not line:
            if self._data:
                events.append((self._event, "\n".join(self._data)))
            self._event, self._data, self._size = None, [], 0
            return
        if line[0] == ":":
            if self._keep_comments:
                events.append(("comment", line[1:].strip()))
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif not self._data and name.startswith("{"):
            # NDJSON-style upstreams send bare JSON lines with no "data:" field.
            events.append((None, line))


def encode_frame(frame: Frame, *, line_end: bytes = b"\n") -> bytes:
    """One SSE event: an optional ``event:`` line and one ``data:`` line of compact JSON (or literal text)."""
    data = frame.data.encode() if isinstance(frame.data, str) else _json.dumps(frame.data)
    if frame.event is None:
        return b"data: " + data + line_end + line_end
    return b"event: " + frame.event.encode() + line_end + b"data: " + data + line_end + line_end
