"""Rebuild a complete answer from canonical stream events (for storage, usage and session evidence)."""

from __future__ import annotations

from .unified import Part, Reasoning, StopReason, StreamEvent, Text, ToolCall, UnifiedResponse, Usage


class StreamAccumulator:
    """Feed it every event of one stream; :meth:`response` is the answer so far, in output order."""

    def __init__(self, response_id: str, model: str) -> None:
        self._id = response_id
        self._model = model
        self.parts: list[Part] = []
        self._calls: dict[int, ToolCall] = {}
        self.usage: Usage | None = None
        self.stop_reason: StopReason | None = None
        self.native_stop_reason: str | None = None
        self.error: object = None

    def feed(self, event: StreamEvent) -> None:
        """Account for one event."""
        kind = event.kind
        last = self.parts[-1] if self.parts else None
        if kind == "text":
            if isinstance(last, Text) and last.signature is None:
                last.text += event.text
            else:
                self.parts.append(Text(event.text))
        elif kind == "text_signature" and isinstance(last, Text):
            last.signature, last.signature_family = event.signature, event.signature_family
        elif kind == "reasoning":
            if isinstance(last, Reasoning) and last.signature is None and last.redacted is None:
                last.text += event.text
            else:
                self.parts.append(Reasoning(event.text))
        elif kind == "reasoning_signature":
            if isinstance(last, Reasoning) and last.signature is None:
                last.signature, last.signature_family = event.signature, event.signature_family
            else:
                self.parts.append(Reasoning("", signature=event.signature, signature_family=event.signature_family))
        elif kind == "reasoning_redacted":
            self.parts.append(
                Reasoning("", redacted=event.signature or event.text, signature_family=event.signature_family)
            )
        elif kind == "tool_call_start":
            call = ToolCall(
                event.id or f"call_{event.index}",
                event.name or "",
                "",
                signature=event.signature,
                signature_family=event.signature_family,
            )
            self._calls[event.index] = call
            self.parts.append(call)
        elif kind == "tool_call_delta":
            target = self._calls.get(event.index)
            if target is not None:
                target.arguments += event.text
        elif kind == "usage":
            self.usage = event.usage
        elif kind == "end":
            self.usage = event.usage or self.usage
            self.stop_reason, self.native_stop_reason = event.stop_reason, event.native_stop_reason
        elif kind == "error":
            self.error = event.error

    def response(self) -> UnifiedResponse:
        """The answer as accumulated; a stream that ended in error has stop reason ``error``."""
        for call in self._calls.values():
            call.arguments = call.arguments or "{}"
        stop: StopReason = "error" if self.error is not None else (self.stop_reason or "incomplete")
        return UnifiedResponse(self._id, self._model, list(self.parts), stop, self.native_stop_reason, self.usage)
