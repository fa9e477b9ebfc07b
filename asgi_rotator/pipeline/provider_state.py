"""Reasoning continuity as built-in field-cache rules (DESIGN.md section 5, "Sessions and provider state").

A client of the provider's own family gets the provider's state (Anthropic signed ``thinking`` and
``redacted_thinking``, Gemini ``thoughtSignature``, Responses ``encrypted_content``) exactly as its protocol
carries it, and sends it back itself. Any other client cannot, so these rules keep the state server-side, scoped
to provider + model + credential + session, and put it back on the next turn:

    gemini_thought_signatures      each tool call's signature, keyed by its id; set on a call that lacks one
    anthropic_thinking_blocks      the whole signed thinking of an answer with tool calls, keyed by its first
                                   call; put first in the assistant message holding that call
    responses_encrypted_reasoning  OpenAI's encrypted reasoning items, likewise

They read a unified response or a unified stream, and inject into the unified request before the provider
protocol builds it, so they never see a wire format. State never crosses families: a rule runs only for a
provider of the family that minted it. A provider's ``field_cache`` may replace one by name (or turn it off
with ``enabled: false``); the replacement must keep the provider, model, credential and session scope.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config.models import FieldCacheInjection
from ..protocols.accumulate import StreamAccumulator
from ..protocols.base import WireProtocol
from ..protocols.unified import Family, Message, Reasoning, StreamEvent, ToolCall, UnifiedRequest, UnifiedResponse
from .rules import CodedRule, Extraction, Found, RuleRunner, StreamState

#: Scope components a provider-state rule may not drop.
REQUIRED_SCOPE = frozenset({"provider", "model", "credential", "session"})
#: Stream events a provider-state rule needs; text and argument deltas are skipped, not buffered.
_STATE_KINDS = frozenset({"reasoning", "reasoning_signature", "reasoning_redacted", "tool_call_start"})


class ProviderStateRule(CodedRule):
    """A built-in rule keeping one family's provider state for clients that cannot carry it."""

    family: Family


class ToolCallSignatures(ProviderStateRule):
    """Each tool call's own-family signature, keyed by the call's id."""

    def runner(self) -> RuleRunner:
        """The runner executing this rule."""
        return _Signatures(self)


class ReasoningBlocks(ProviderStateRule):
    """The signed or encrypted reasoning of an answer with tool calls, keyed by its first call's id."""

    #: True: a signature or redacted data is state (Anthropic); False: only redacted data (Responses).
    signed: bool = True

    def runner(self) -> RuleRunner:
        """The runner executing this rule."""
        return _Blocks(self)


class _StateRunner:
    sources = frozenset({"unified_response", "unified_stream_event"})
    continuation = False
    copies_itself = True

    def __init__(self, rule: ProviderStateRule) -> None:
        self.rule: ProviderStateRule = rule
        self.identity = rule.cache_key or rule.name
        self.family = rule.family

    def applies(self, protocol: WireProtocol, client_protocol: WireProtocol) -> bool:
        # The provider mints this family's state, and the client cannot carry it back itself.
        return protocol.carries_state == self.family and client_protocol.carries_state != self.family

    def stream_state(self) -> StreamState:
        return _Accumulated(self)

    def extract(self, document: Any, *, request_side: bool) -> Extraction:
        if not isinstance(document, UnifiedResponse) or not document.tool_calls:
            return None
        found = self._extract(document)
        return Found("by_id", dict(list(found.items())[: self.rule.max_values])) if found else None

    def _extract(self, response: UnifiedResponse) -> dict[str, Any]:
        raise NotImplementedError

    def wanted_ids(self, target: Any) -> list[str]:
        if not isinstance(target, UnifiedRequest):
            return []
        return [i for m in target.messages if m.role == "assistant" for i in self._wanted(m)]

    def _wanted(self, message: Message) -> list[str]:
        raise NotImplementedError

    def inject(self, target: Any, stored: Any) -> tuple[Any, int | str]:
        messages, changed = list(target.messages), 0
        for index, message in enumerate(messages):
            if message.role == "assistant" and any(i in stored for i in self._wanted(message)):
                messages[index] = self._apply(message, stored)
                changed += 1
        return (replace(target, messages=messages) if changed else target), changed

    def _apply(self, message: Message, stored: dict[str, Any]) -> Message:
        raise NotImplementedError


class _Signatures(_StateRunner):
    def _own(self, call: ToolCall) -> bool:
        return bool(call.signature) and call.signature_family == self.family

    def _extract(self, response: UnifiedResponse) -> dict[str, Any]:
        return {c.id: c.signature for c in response.tool_calls if self._own(c)}

    def _wanted(self, message: Message) -> list[str]:
        return [p.id for p in message.parts if isinstance(p, ToolCall) and not self._own(p)]

    def _apply(self, message: Message, stored: dict[str, Any]) -> Message:
        parts = [
            replace(p, signature=stored[p.id], signature_family=self.family)
            if isinstance(p, ToolCall) and not self._own(p) and p.id in stored
            else p
            for p in message.parts
        ]
        return replace(message, parts=parts)


class _Blocks(_StateRunner):
    def __init__(self, rule: ReasoningBlocks) -> None:
        super().__init__(rule)
        self.signed = rule.signed

    def _state(self, part: object) -> bool:
        if not isinstance(part, Reasoning) or part.signature_family != self.family:
            return False
        return bool(part.redacted or (self.signed and part.signature))

    def _extract(self, response: UnifiedResponse) -> dict[str, Any]:
        blocks = [
            {"text": p.text, "signature": p.signature, "redacted": p.redacted, "item_id": p.item_id}
            for p in response.parts
            if isinstance(p, Reasoning) and self._state(p)
        ]
        return {response.tool_calls[0].id: blocks} if blocks else {}

    def _wanted(self, message: Message) -> list[str]:
        if any(self._state(p) for p in message.parts):
            return []  # the client sent the state back itself
        return [p.id for p in message.parts if isinstance(p, ToolCall)]

    def _apply(self, message: Message, stored: dict[str, Any]) -> Message:
        hit = next(i for i in self._wanted(message) if i in stored)
        blocks = [
            Reasoning(
                b.get("text") or "",
                signature=b.get("signature"),
                signature_family=self.family,
                redacted=b.get("redacted"),
                item_id=b.get("item_id"),
            )
            for b in stored[hit]
            if isinstance(b, dict)
        ]
        return replace(message, parts=[*blocks, *message.parts])


class _Accumulated:
    """A stream rebuilt from the events that carry state, read as a response once the stream completed."""

    __slots__ = ("_accumulator", "_runner")

    def __init__(self, runner: _StateRunner) -> None:
        self._runner = runner
        self._accumulator = StreamAccumulator("", "")

    def feed(self, event: Any) -> None:
        if isinstance(event, StreamEvent) and event.kind in _STATE_KINDS:
            self._accumulator.feed(event)

    def result(self) -> Extraction:
        return self._runner.extract(self._accumulator.response(), request_side=False)


def _rule(cls: type[ProviderStateRule], name: str, family: Family, **fields: Any) -> ProviderStateRule:
    return cls(
        name=name,
        family=family,
        source="unified_response",
        mode="per_tool_call",
        scope=["provider", "model", "credential", "session"],
        inject=FieldCacheInjection(target="unified_request", when_missing_only=True, **fields.pop("inject")),
        **fields,
    )


_BLOCK_PATHS: dict[str, Any] = {
    "path": "parts[type=reasoning]",
    "tool_call_id_path": "parts[type=tool_call][0].id",
    "inject": {
        "path": "parts",
        "tool_container_path": "messages[*]",
        "tool_call_id_path": "parts[type=tool_call][*].id",
    },
}

#: The built-in rules, in the order they run.
BUILTIN_RULES: tuple[ProviderStateRule, ...] = (
    _rule(
        ToolCallSignatures,
        "gemini_thought_signatures",
        "gemini",
        path="signature",
        tool_container_path="parts[type=tool_call]",
        tool_call_id_path="id",
        inject={"path": "signature", "tool_container_path": "messages[*].parts[type=tool_call]"},
    ),
    _rule(ReasoningBlocks, "anthropic_thinking_blocks", "anthropic", **_BLOCK_PATHS),
    _rule(
        ReasoningBlocks,
        "responses_encrypted_reasoning",
        "openai",
        signed=False,
        **_BLOCK_PATHS,
    ),
)
