"""JSON in one place: orjson for speed, with the standard library's error type for callers."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises :data:`JSONDecodeError` (a ``ValueError``)."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """Serialize to compact UTF-8 JSON bytes."""
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    """Serialize to a compact JSON string (tool-call arguments travel as text)."""
    return orjson.dumps(value).decode()
