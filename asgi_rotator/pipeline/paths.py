"""JSON-path-like paths for field-cache rules: dotted keys, ``[n]``, ``[-1]`` and ``*``; no escaping.

``a.b[0].c``, ``choices[*].message.content`` and ``messages[-1].content`` are paths. Extraction returns every
match in document order; injection creates dict containers where the way is unambiguous, and never goes
through ``*``. A malformed path raises :class:`FieldCachePathError` when the rule is loaded.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError

_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+|\*)\]")
_WILD = object()


class FieldCachePathError(ConfigError):
    """A field-cache path that cannot be parsed."""


class Path:
    """A compiled path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.segments: list[str | int | object] = []
        position = 0
        for match in _TOKEN.finditer(text):
            gap = text[position : match.start()]
            if gap not in ("", "."):
                break
            key, index = match.groups()
            self.segments.append(key if key is not None else (_WILD if index == "*" else int(index)))
            position = match.end()
        if not self.segments or position != len(text):
            raise FieldCachePathError(f"malformed field-cache path {text!r}")

    def extract(self, document: Any) -> list[Any]:
        """Every value at this path, in order; none when the path is missing."""
        nodes = [document]
        for segment in self.segments:
            found: list[Any] = []
            for node in nodes:
                if segment is _WILD:
                    found += (
                        list(node.values()) if isinstance(node, dict) else list(node) if isinstance(node, list) else []
                    )
                elif isinstance(segment, int):
                    if isinstance(node, list) and -len(node) <= segment < len(node):
                        found.append(node[segment])
                elif isinstance(node, dict) and segment in node:
                    found.append(node[segment])
            nodes = found
        return nodes

    def inject(self, document: dict[str, Any], value: Any, *, when_missing_only: bool = False) -> bool:
        """Set ``value`` at this path; returns whether anything changed."""
        if any(segment is _WILD for segment in self.segments):
            return False
        node: Any = document
        for segment, following in zip(self.segments, self.segments[1:], strict=False):
            if isinstance(segment, int):
                if not (isinstance(node, list) and -len(node) <= segment < len(node)):
                    return False
                node = node[segment]
            elif isinstance(node, dict):
                if segment not in node:
                    if isinstance(following, int):
                        return False  # a list of unknown length is not an unambiguous container
                    node[segment] = {}
                node = node[segment]
            else:
                return False
        last = self.segments[-1]
        if isinstance(last, int):
            if isinstance(node, list) and -len(node) <= last < len(node) and not when_missing_only:
                node[last] = value
                return True
            return False
        if not isinstance(node, dict) or (when_missing_only and last in node):
            return False
        node[str(last)] = value
        return True
