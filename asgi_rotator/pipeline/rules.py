"""Compiled field-cache rules: what a rule extracts from a document and how it injects into one.

The engine (:mod:`.field_cache`) decides when a rule runs, scopes and stores its values; a rule only reads and
writes documents. A declarative :class:`~asgi_rotator.config.models.FieldCacheRule` compiles to a
:class:`PathRule`; the built-in provider-state rules (:mod:`.provider_state`) implement the same
:class:`RuleRunner` contract in a little Python.

Modes, for a :class:`PathRule`:

- ``last``: the last match of ``path``; injected at ``inject.path`` (wrapped in a list with ``as_list``).
- ``all``: every match, appended (``max_values`` kept); the list is injected at ``inject.path``.
- ``last_user_turn`` / ``last_assistant_turn``: the turn is the last item of ``turn_container_path`` whose
  ``turn_role_path`` is the role (``model`` counts as assistant). From a request, ``path`` is read in that turn;
  from a response or a stream (which are the assistant's turn) ``path`` is absolute. The value is injected at
  ``inject.path`` inside the target's turn. No such turn: skipped (``turn_context_not_found``), never ``last``.
- ``per_tool_call``: a map tool-call id -> value. With ``tool_container_path``, ``tool_call_id_path`` and ``path``
  are read in each container item; without it both are absolute, and one value goes to every id found
  (``ambiguous_tool_call_values`` when values and ids do not pair up). Injection looks at the items of
  ``inject.tool_container_path``, and puts the value of the first of an item's ids (``inject.tool_call_id_path``)
  that has one at ``inject.path`` inside the item.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..config.models import FieldCacheRule
from ..errors import ConfigError
from ..protocols.base import WireProtocol
from .paths import Path, compile_path

#: Injection leaves that chain a conversation upstream; a rule needs ``metadata.provider_continuation: true``.
CONTINUATION_LEAVES = frozenset({"previous_response_id", "provider_response_id", "continuation_id", "conversation_id"})
REQUEST_SOURCES = frozenset({"request", "unified_request"})
_ROLES = {"last_user_turn": frozenset({"user"}), "last_assistant_turn": frozenset({"assistant", "model"})}


@dataclass(slots=True)
class Found:
    """What a rule extracted: one ``value``, a list of ``values``, or a tool-call id -> value map ``by_id``."""

    kind: Literal["value", "values", "by_id"]
    value: Any

    def merge(self, later: Found, max_values: int) -> None:
        """Fold a later extraction of the same stream into this one."""
        if self.kind == "values":
            self.value = (self.value + later.value)[-max_values:]
        elif self.kind == "by_id":
            self.value.update(later.value)
            if len(self.value) > max_values:
                self.value = dict(list(self.value.items())[-max_values:])
        else:
            self.value = later.value


#: An extraction: what was found, a skip reason, or None for nothing.
Extraction = Found | str | None


class StreamState(Protocol):
    """One rule's view of one stream: fed event by event, read once when the stream completed."""

    def feed(self, event: Any) -> None:
        """Account for one event (a raw payload or a canonical event, as the rule's source says)."""

    def result(self) -> Extraction:
        """What the whole stream gave."""


class RuleRunner(Protocol):
    """A compiled rule, as the engine drives it."""

    @property
    def rule(self) -> FieldCacheRule:
        """The rule's settings."""

    @property
    def identity(self) -> str:
        """The storage identity: ``cache_key`` or ``name``."""

    @property
    def sources(self) -> frozenset[str]:
        """The sources it extracts from (a built-in reads a unified response and a unified stream)."""

    @property
    def continuation(self) -> bool:
        """Injects a provider continuation id (suppressed when the gateway expanded the history itself)."""

    @property
    def copies_itself(self) -> bool:
        """Copies what it changes in a unified request itself (else the engine copies the request first)."""

    def applies(self, protocol: WireProtocol, client_protocol: WireProtocol) -> bool:
        """Whether the rule runs for a provider of ``protocol`` serving a client of ``client_protocol``."""

    def extract(self, document: Any, *, request_side: bool) -> Extraction:
        """Extract from one document (``request_side``: a request, which holds turns)."""

    def stream_state(self) -> StreamState:
        """A fresh per-stream extractor."""

    def wanted_ids(self, target: Any) -> list[str]:
        """per_tool_call: the tool-call ids in ``target`` that may receive a value."""

    def inject(self, target: Any, stored: Any) -> tuple[Any, int | str]:
        """Put ``stored`` into ``target``: the target (a replacement, for one that copies itself) and the count
        of changes, or a skip reason."""


class CodedRule(FieldCacheRule):
    """A rule that carries its own code (the built-in provider-state rules subclass it)."""

    def runner(self) -> RuleRunner:
        """The runner that executes this rule."""
        raise NotImplementedError


def compile_rule(rule: FieldCacheRule) -> RuleRunner:
    """The runner for ``rule``: a built-in runs itself, a declarative rule compiles to a :class:`PathRule`.

    Raises:
        ConfigError: a malformed path, or a continuation injection without ``provider_continuation``.
    """
    if isinstance(rule, CodedRule):
        return rule.runner()
    return PathRule(rule)


class PathRule:
    """A declarative rule, its paths compiled."""

    copies_itself = False

    def __init__(self, rule: FieldCacheRule) -> None:
        self.rule = rule
        self.identity = rule.cache_key or rule.name
        self.sources = frozenset({rule.source})
        self.path = compile_path(rule.path)
        self.turn_container = compile_path(rule.turn_container_path)
        self.turn_role = compile_path(rule.turn_role_path)
        self.tool_container = compile_path(rule.tool_container_path) if rule.tool_container_path else None
        self.tool_id = compile_path(rule.tool_call_id_path) if rule.tool_call_id_path else None
        inject = rule.inject
        self.inject_path = compile_path(inject.path)
        self.inject_turns = compile_path(inject.turn_container_path or rule.turn_container_path)
        self.inject_items = compile_path(inject.tool_container_path) if inject.tool_container_path else None
        self.inject_id = compile_path(inject.tool_call_id_path)
        leaf = (self.inject_path.leaf or "").lower()
        self.continuation = leaf in CONTINUATION_LEAVES
        if self.continuation and rule.metadata.get("provider_continuation") is not True:
            raise ConfigError(f"inject.path {inject.path!r} chains upstream; it needs metadata.provider_continuation")

    def applies(self, protocol: WireProtocol, client_protocol: WireProtocol) -> bool:
        """Declarative rules run for every exchange of their provider."""
        return True

    def extract(self, document: Any, *, request_side: bool) -> Extraction:
        """See the module docstring for each mode."""
        mode = self.rule.mode
        if mode == "per_tool_call":
            return self._by_id(document)
        if mode in _ROLES and request_side:
            turn = last_turn(document, self.turn_container, self.turn_role, _ROLES[mode])
            if turn is None:
                return "turn_context_not_found"
            document = turn
        values = self.path.extract(document)
        if not values:
            return None
        if mode == "all":
            return Found("values", values[-self.rule.max_values :])
        return Found("value", values[-1])

    def _by_id(self, document: Any) -> Extraction:
        assert self.tool_id is not None  # the model requires tool_call_id_path for per_tool_call
        found: dict[str, Any] = {}
        if self.tool_container is not None:
            for item in items(self.tool_container, document):
                ids, values = _strings(self.tool_id.extract(item)), self.path.extract(item)
                if ids and values:
                    found[ids[0]] = values[-1]
        else:
            ids, values = _strings(self.tool_id.extract(document)), self.path.extract(document)
            if not values:
                return None
            if not ids:
                return "tool_call_id_not_found"
            if len(values) == 1:
                found = dict.fromkeys(ids, values[0])
            elif len(values) == len(ids):
                found = dict(zip(ids, values, strict=True))
            else:
                return "ambiguous_tool_call_values"
        if not found:
            return None
        return Found("by_id", dict(list(found.items())[-self.rule.max_values :]))

    def stream_state(self) -> StreamState:
        """Extract event by event: a stream is never buffered, only what the rule keeps."""
        return _PathStream(self)

    def wanted_ids(self, target: Any) -> list[str]:
        """Every id of the target's tool items."""
        if self.inject_items is None:
            return []
        return [i for item in items(self.inject_items, target) for i in _strings(self.inject_id.extract(item))]

    def inject(self, target: Any, stored: Any) -> tuple[Any, int | str]:
        """See the module docstring for each mode."""
        rule, missing_only = self.rule, self.rule.inject.when_missing_only
        if rule.mode == "per_tool_call":
            assert self.inject_items is not None
            changed = 0
            for item in items(self.inject_items, target):
                hit = next((i for i in _strings(self.inject_id.extract(item)) if i in stored), None)
                if hit is not None:
                    value = copy.deepcopy(stored[hit])
                    changed += self.inject_path.inject(item, value, when_missing_only=missing_only)
            return target, changed
        where = target
        if rule.mode in _ROLES:
            where = last_turn(target, self.inject_turns, self.turn_role, _ROLES[rule.mode])
            if where is None:
                return target, "turn_context_not_found"
        value = [stored] if rule.inject.as_list and rule.mode != "all" else stored
        return target, int(self.inject_path.inject(where, value, when_missing_only=missing_only))


class _PathStream:
    __slots__ = ("_found", "_rule", "_skip")

    def __init__(self, rule: PathRule) -> None:
        self._rule = rule
        self._found: Found | None = None
        self._skip: str | None = None

    def feed(self, event: Any) -> None:
        found = self._rule.extract(event, request_side=False)
        if isinstance(found, str):
            self._skip = found
        elif found is not None:
            if self._found is None:
                self._found = found
            else:
                self._found.merge(found, self._rule.rule.max_values)

    def result(self) -> Extraction:
        return self._found if self._found is not None else self._skip


def items(path: Path, document: Any) -> list[Any]:
    """What ``path`` finds, with lists opened up one level (containers are read item by item)."""
    found: list[Any] = []
    for match in path.extract(document):
        if isinstance(match, list):
            found += match
        else:
            found.append(match)
    return found


def last_turn(document: Any, container: Path, role: Path, roles: frozenset[str]) -> Any:
    """The last item of ``container`` whose role is one of ``roles``, or None."""
    for turn in reversed(items(container, document)):
        if any(r in roles for r in role.extract(turn) if isinstance(r, str)):
            return turn
    return None


def _strings(values: Iterable[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str) and v]
