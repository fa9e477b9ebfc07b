"""JSON-path-like paths over JSON documents and the unified objects: ``a.b[0].c``, ``items[*].id``, ``x[-1]``.

Segments are dotted keys, numeric segments (``a.0`` indexes a list, or is the key ``"0"`` of a dict), ``[n]`` and
``[-n]`` (list indexes), ``*`` or ``[*]`` (every item of a list or value of a dict), and ``[type=<name>]``. There
is no escaping. A key resolves a dict key, or a public attribute of a dataclass (``parts[0].signature`` works on a
:class:`~asgi_rotator.protocols.unified.Message` as on a dict).

``[type=<name>]`` narrows a list to the items of that type, and stays a list (follow it with ``[0]``, ``[-1]`` or
``[*]``); on a single item it keeps or drops the item. The type of a dict is its ``type`` key, of a stream event
its ``kind``, of another object its class name in snake case (``Text`` is ``text``, ``ToolCall`` ``tool_call``).

Extraction returns every match in document order; a missing path, or a null value, matches nothing. Injection
creates dict containers only where the way is unambiguous, and never goes through ``*``; through a type filter it
reaches the filtered items, never the filtered list itself.
A malformed path raises :class:`FieldCachePathError` when it is compiled (at load).
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from typing import Any

from ..errors import FieldCachePathError

_KEY = r"[^.\[\]]+"
_BRACKET = r"\[(?:-?\d+|\*|type=[^\[\]=]+)\]"
_FIRST = re.compile(rf"({_KEY})|({_BRACKET})")
_NEXT = re.compile(rf"\.({_KEY})|({_BRACKET})")
_NUMBER = re.compile(r"-?\d+")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class _Wild:
    __slots__ = ()


@dataclasses.dataclass(frozen=True, slots=True)
class _Index:
    index: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Key:
    key: str
    #: A numeric dotted segment indexes a list and names a dict key.
    index: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Type:
    name: str


_WILD = _Wild()
Segment = _Key | _Index | _Wild | _Type
_MISSING = object()


class Path:
    """A compiled path; build one with :func:`compile_path`."""

    __slots__ = ("segments", "text")

    def __init__(self, text: str, segments: tuple[Segment, ...]) -> None:
        self.text = text
        self.segments = segments

    def __repr__(self) -> str:
        return f"Path({self.text!r})"

    @property
    def leaf(self) -> str | None:
        """The last segment when it is a key (what an injection names), else None."""
        last = self.segments[-1]
        return last.key if isinstance(last, _Key) else None

    def extract(self, document: Any) -> list[Any]:
        """Every non-null value at this path, in document order; none when the path is missing."""
        nodes = [document]
        for segment in self.segments:
            found: list[Any] = []
            for node in nodes:
                _step(node, segment, found)
            if not found:
                return found
            nodes = found
        return [node for node in nodes if node is not None]

    def inject(self, document: Any, value: Any, *, when_missing_only: bool = False) -> bool:
        """Set ``value`` at this path (a null counts as missing); returns whether anything changed."""
        node = document
        view = False  # the node is a type filter's list: its items are real, the list itself is not
        segments = self.segments
        for position, segment in enumerate(segments[:-1]):
            if isinstance(segment, _Wild):
                return False
            if isinstance(segment, _Type):
                found: list[Any] = []
                _step(node, segment, found)
                if not found:
                    return False
                node, view = found[0], isinstance(node, list)
                continue
            child = _child(node, segment)
            if child is _MISSING or child is None:
                if view or not all(isinstance(s, _Key) and s.index is None for s in segments[position + 1 :]):
                    return False  # below, a list or a segment that may be an index: the containers' shape is unknown
                child = {}
                if not _assign(node, segment, child, creating=True):
                    return False
            node, view = child, False
        last = segments[-1]
        if view or isinstance(last, _Wild | _Type):
            return False
        if when_missing_only and _child(node, last) not in (_MISSING, None):
            return False
        return _assign(node, last, value, creating=False)

    def delete(self, document: Any) -> int:
        """Remove what this path names (through ``*`` too); returns how many values went."""
        *parents, last = self.segments
        removed = 0
        for parent in Path(self.text, tuple(parents)).extract(document) if parents else [document]:
            if isinstance(last, _Key) and isinstance(parent, dict) and last.key in parent:
                del parent[last.key]
                removed += 1
            elif isinstance(parent, list) and (index := _list_index(last)) is not None:
                if -len(parent) <= index < len(parent):
                    del parent[index]
                    removed += 1
        return removed


@cache
def compile_path(text: str) -> Path:
    """Parse ``text`` into a :class:`Path` (cached: rules share their paths).

    Raises:
        FieldCachePathError: ``text`` is empty or malformed.
    """
    segments: list[Segment] = []
    position = 0
    pattern = _FIRST
    while position < len(text):
        match = pattern.match(text, position)
        if match is None:
            raise FieldCachePathError(f"malformed path {text!r} at character {position}")
        key, bracket = match.groups()
        segments.append(_key_segment(key) if key is not None else _bracket_segment(bracket))
        position = match.end()
        pattern = _NEXT
    if not segments:
        raise FieldCachePathError("a path may not be empty")
    return Path(text, tuple(segments))


def type_name(item: Any) -> str | None:
    """The type a ``[type=...]`` filter compares: a dict's ``type``, an event's ``kind``, else the class name."""
    if isinstance(item, dict):
        kind = item.get("type")
        return kind if isinstance(kind, str) else None
    if item is None or isinstance(item, list | str | int | float | bool):
        return None
    cls = type(item)
    if cls.__name__ == "StreamEvent":
        return str(item.kind)
    return _CAMEL.sub("_", cls.__name__).lower()


def _key_segment(key: str) -> Segment:
    if key == "*":
        return _WILD
    return _Key(key, int(key) if _NUMBER.fullmatch(key) else None)


def _bracket_segment(bracket: str) -> Segment:
    inner = bracket[1:-1]
    if inner == "*":
        return _WILD
    if inner.startswith("type="):
        return _Type(inner[5:])
    return _Index(int(inner))


def _list_index(segment: Segment) -> int | None:
    if isinstance(segment, _Index):
        return segment.index
    return segment.index if isinstance(segment, _Key) else None


def _step(node: Any, segment: Segment, found: list[Any]) -> None:
    if isinstance(segment, _Wild):
        if isinstance(node, list):
            found += node
        elif isinstance(node, dict):
            found += node.values()
    elif isinstance(segment, _Type):
        if isinstance(node, list):
            kept = [item for item in node if type_name(item) == segment.name]
            if kept:
                found.append(kept)
        elif type_name(node) == segment.name:
            found.append(node)
    else:
        child = _child(node, segment)
        if child is not _MISSING:
            found.append(child)


def _child(node: Any, segment: Segment) -> Any:
    if isinstance(node, list):
        index = _list_index(segment)
        if index is not None and -len(node) <= index < len(node):
            return node[index]
        return _MISSING
    if not isinstance(segment, _Key):
        return _MISSING
    if isinstance(node, dict):
        return node.get(segment.key, _MISSING)
    if dataclasses.is_dataclass(node) and not isinstance(node, type) and not segment.key.startswith("_"):
        return getattr(node, segment.key, _MISSING)
    return _MISSING


def _assign(node: Any, segment: Segment, value: Any, *, creating: bool) -> bool:
    if isinstance(node, list):
        index = _list_index(segment)
        if index is None or not -len(node) <= index < len(node):
            return False
        node[index] = value
        return True
    if not isinstance(segment, _Key):
        return False
    if isinstance(node, dict):
        node[segment.key] = value
        return True
    fields = getattr(node, "__dataclass_fields__", None)
    spec = fields.get(segment.key) if fields is not None and not isinstance(node, type) else None
    if spec is None or (creating and "dict[" not in str(spec.type)):
        return False  # only a declared field, and a new container only where the field holds a dict
    setattr(node, segment.key, value)
    return True
