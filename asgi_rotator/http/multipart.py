"""Multipart request bodies (file uploads) kept out of memory: spooled to a temporary file as they arrive.

A passthrough upload may be retried on another credential or target, so its body must be replayable; it goes
to a spooled file (in memory up to 1 MiB, then on disk), never into one ``bytes``. While it arrives, a small
scanner finds the few text fields the gateway needs (``model``), by their offsets in the file, so each attempt
can send the body with the upstream's model name spliced in and nothing else re-encoded.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import IO

from ..errors import invalid_request
from ..types import Receive
from .asgi import body_chunks

_IN_MEMORY = 1024 * 1024
_READ_SIZE = 64 * 1024
_MAX_PART_HEADERS = 16 * 1024
_MAX_FIELD = 4096
_NAME = re.compile(rb'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)


@dataclass(slots=True)
class SpooledForm:
    """A multipart body on a spooled file, with the offsets of its small text fields."""

    file: IO[bytes]
    size: int
    content_type: str
    #: Field name -> ``(start, end)`` of its value in the file (text fields only, first occurrence).
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The text of field ``name`` (at most 4 KiB), or None when the form has no such text field."""
        span = self.offsets.get(name)
        if span is None:
            return None
        self.file.seek(span[0])
        return self.file.read(min(span[1] - span[0], _MAX_FIELD)).decode("utf-8", "replace")

    def replayed(self, replace: Mapping[str, str]) -> tuple[int, AsyncIterator[bytes]]:
        """``(length, chunks)`` of the body with the named fields' values replaced; call once per attempt."""
        spans = sorted((self.offsets[name], value.encode()) for name, value in replace.items() if name in self.offsets)
        length = self.size + sum(len(new) - (end - start) for (start, end), new in spans)
        return length, self._chunks(spans)

    async def _chunks(self, spans: list[tuple[tuple[int, int], bytes]]) -> AsyncIterator[bytes]:
        position = 0
        for (start, end), new in [*spans, ((self.size, self.size), b"")]:
            self.file.seek(position)
            while position < start:
                # Reads of 64 KiB from memory or the page cache: short enough to do on the event loop.
                chunk = self.file.read(min(_READ_SIZE, start - position))
                position += len(chunk)
                yield chunk
            if new:
                yield new
            position = end

    def close(self) -> None:
        """Delete the spooled file."""
        self.file.close()


async def spool_form(receive: Receive, content_type: str, limit: int, fields: tuple[str, ...]) -> SpooledForm:
    """Read a ``multipart/form-data`` body onto a spooled file, noting where the text ``fields`` are.

    Raises:
        GatewayError: 413 past ``limit`` bytes; 400 for a body that is not multipart with a boundary.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise invalid_request("A multipart body needs a boundary in its content-type.")
    scanner = _FieldScanner(match.group(1).encode("latin-1"), fields)
    spooled: IO[bytes] = SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - owned by the SpooledForm
    size = 0
    try:
        async for chunk in body_chunks(receive, limit):
            size += len(chunk)
            spooled.write(chunk)
            scanner.feed(chunk)
    except BaseException:
        spooled.close()
        raise
    return SpooledForm(spooled, size, content_type, scanner.offsets)


class _FieldScanner:
    """Finds the value offsets of named text fields in a multipart stream, in one pass over its chunks."""

    def __init__(self, boundary: bytes, fields: tuple[str, ...]) -> None:
        self._delimiter = b"\r\n--" + boundary
        self._fields = {name.encode() for name in fields}
        self._window = b"\r\n"  # the first delimiter has no line break before it
        self._base = -2  # file offset of the window's first byte
        self._in_headers = False
        self._open: tuple[str, int] | None = None  # the field whose value is being read, and where it starts
        self.offsets: dict[str, tuple[int, int]] = {}

    def feed(self, chunk: bytes) -> None:
        self._window += chunk
        while True:
            if self._in_headers:
                end = self._window.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._window) > _MAX_PART_HEADERS:
                        raise invalid_request("A multipart part's headers are too long.")
                    return
                self._start_part(self._window[:end], self._base + end + 4)
                self._consume(end + 4)
                self._in_headers = False
            found = self._window.find(self._delimiter)
            if found < 0:
                keep = len(self._delimiter) - 1
                if len(self._window) > keep:
                    self._consume(len(self._window) - keep)
                return
            if self._open is not None:
                name, start = self._open
                self.offsets.setdefault(name, (start, self._base + found))
                self._open = None
            self._consume(found + len(self._delimiter))
            self._in_headers = True

    def _start_part(self, headers: bytes, value_start: int) -> None:
        for line in headers.split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() != b"content-disposition" or b"filename" in value.lower():
                continue
            name = _NAME.search(value)
            if name is not None and name.group(1) in self._fields:
                self._open = (name.group(1).decode(), value_start)

    def _consume(self, count: int) -> None:
        self._window = self._window[count:]
        self._base += count
