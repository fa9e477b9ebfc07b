"""Gemini streams (``:streamGenerateContent?alt=sse``): every ``data:`` chunk is a whole ``GenerateContentResponse``.

There is no start or stop event: the first chunk starts the answer and the chunk that carries a
``finishReason`` ends it (its ``usageMetadata`` is the final usage). Function calls arrive whole, one part each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import upstream_invalid
from ..base import Frame, SSEData, StreamFormatter, StreamParser, decoded, is_blank
from ..unified import Part, Reasoning, StreamEvent, Text, ToolCall, UnifiedRequest, Usage
from .contents import FAMILY
from .responses import STOP_TO_FINISH, call_args, format_error, format_usage, output_part, parse_usage, stop_reason


class GeminiStreamParser(StreamParser):
    """Parses an upstream Gemini SSE stream. It is complete only once a chunk with ``finishReason`` arrived."""

    def __init__(self, error_from_body: Callable[[Any], GatewayError]) -> None:
        self._error_from_body = error_from_body
        self._started = False
        self._tools = 0
        self._usage: Usage | None = None
        self._done = False

    def feed(self, event: str | None, data: SSEData) -> list[StreamEvent]:
        if self._done or is_blank(data):
            return []
        try:
            chunk = decoded(data)
        except _json.JSONDecodeError:
            return self._fail(upstream_invalid("Gemini", "a stream chunk is not JSON"))
        events: list[StreamEvent] = []
        # Without alt=sse Gemini streams one JSON array; take its elements the same way.
        for item in chunk if isinstance(chunk, list) else [chunk]:
            if not isinstance(item, dict):
                return events + self._fail(upstream_invalid("Gemini", "a stream chunk is not an object"))
            if "error" in item:
                return events + self._fail(self._error_from_body(item))
            events += self._chunk(item)
            if self._done:
                break
        return events

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(StreamEvent("start", id=chunk.get("responseId"), name=chunk.get("modelVersion")))
        usage = parse_usage(chunk.get("usageMetadata"), chunk)
        if usage is not None:
            self._usage = usage
        candidates = chunk.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else {}
        candidate = candidate if isinstance(candidate, dict) else {}
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for raw in parts if isinstance(parts, list) else []:
            part = output_part(raw)
            if part is not None:
                events += self._part_events(part)
        finish = candidate.get("finishReason")
        feedback = chunk.get("promptFeedback")
        block = feedback.get("blockReason") if isinstance(feedback, dict) and not candidates else None
        if isinstance(finish, str) or isinstance(block, str):
            self._done = True
            stop = stop_reason(finish, self._tools > 0) if isinstance(finish, str) else "content_filter"
            if self._usage is not None:
                events.append(StreamEvent("usage", usage=self._usage))
            events.append(StreamEvent("end", stop_reason=stop, native_stop_reason=finish or block, usage=self._usage))
        return events

    def _part_events(self, part: Part) -> list[StreamEvent]:
        if isinstance(part, ToolCall):
            index = self._tools
            self._tools += 1
            # The public API sends each call whole: one start and one delta holding all of its arguments.
            return [
                StreamEvent(
                    "tool_call_start",
                    index=index,
                    id=part.id,
                    name=part.name,
                    signature=part.signature,
                    signature_family=part.signature_family,
                ),
                StreamEvent("tool_call_delta", index=index, text=part.arguments),
            ]
        events: list[StreamEvent] = []
        if isinstance(part, Reasoning):
            if part.text:
                events.append(StreamEvent("reasoning", text=part.text))
            if part.signature:
                events.append(
                    StreamEvent("reasoning_signature", signature=part.signature, signature_family=part.signature_family)
                )
        elif isinstance(part, Text):
            if part.text:
                events.append(StreamEvent("text", text=part.text))
            if part.signature:
                events.append(
                    StreamEvent("text_signature", signature=part.signature, signature_family=part.signature_family)
                )
        # Generated media (image models) has no stream event kind yet and is left out.
        return events

    def finish(self) -> list[StreamEvent]:
        if self._done:
            return []
        return self._fail(GatewayError("server_error", "The upstream Gemini stream ended before a finishReason."))

    def _fail(self, error: GatewayError) -> list[StreamEvent]:
        self._done = True
        return [StreamEvent("error", error=error)]


@dataclass(slots=True)
class _OpenCall:
    index: int
    id: str
    name: str
    signature: str | None
    fragments: list[str] = field(default_factory=list)


class GeminiStreamFormatter(StreamFormatter):
    """Formats canonical events as Gemini chunks: one chunk per event, the last with ``finishReason`` and usage.

    Gemini carries a function call whole, so argument fragments are buffered until the call is complete (the
    next event that is not one of its fragments) and sent as one ``functionCall`` part with parsed ``args``.
    """

    #: A bare CRLF: the google-genai SDK fails on SSE comment lines.
    heartbeat = b"\r\n"

    def __init__(self, request: UnifiedRequest, response_id: str) -> None:
        self._model = request.model
        self._id = response_id
        self._usage: Usage | None = None
        self._call: _OpenCall | None = None
        self._done = False

    def _frame(self, parts: list[dict[str, Any]], finish: str | None = None, usage: Usage | None = None) -> Frame:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        data: dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            data["usageMetadata"] = format_usage(usage)
        data["modelVersion"] = self._model
        data["responseId"] = self._id
        return Frame(data)

    def feed(self, event: StreamEvent) -> list[Frame]:
        if self._done:
            return []
        frames: list[Frame] = []
        kind = event.kind
        if self._call is not None and not (kind == "tool_call_delta" and event.index == self._call.index):
            if kind == "error":
                self._call = None  # an unfinished call is never shown
            else:
                try:
                    frames.append(self._flush())
                except GatewayError as error:
                    return self._fail(error)
        own = event.signature_family == FAMILY and bool(event.signature)
        if kind == "text" and event.text:
            frames.append(self._frame([{"text": event.text}]))
        elif kind == "reasoning" and event.text:
            frames.append(self._frame([{"text": event.text, "thought": True}]))
        elif kind == "reasoning_signature" and own:
            frames.append(self._frame([{"text": "", "thought": True, "thoughtSignature": event.signature}]))
        elif kind == "text_signature" and own:
            frames.append(self._frame([{"text": "", "thoughtSignature": event.signature}]))
        elif kind == "tool_call_start":
            self._call = _OpenCall(event.index, event.id or "", event.name or "", event.signature if own else None)
        elif kind == "tool_call_delta" and self._call is not None and event.index == self._call.index:
            self._call.fragments.append(event.text)
        elif kind == "usage":
            self._usage = event.usage
        elif kind == "end":
            self._done = True
            finish = STOP_TO_FINISH.get(event.stop_reason or "stop", "STOP")
            frames.append(self._frame([{"text": ""}], finish, event.usage or self._usage))
        elif kind == "error":
            return frames + self._fail(event.error)
        return frames

    def _flush(self) -> Frame:
        call, self._call = self._call, None
        assert call is not None
        part: dict[str, Any] = {
            "functionCall": {"id": call.id, "name": call.name, "args": call_args("".join(call.fragments))}
        }
        if call.signature:
            part["thoughtSignature"] = call.signature
        return self._frame([part])

    def _fail(self, error: Any) -> list[Frame]:
        self._done = True
        if not isinstance(error, GatewayError):
            error = GatewayError("server_error", str(error) if error else "The upstream stream failed.")
        # The google-genai SDK raises APIError on a chunk that starts with {"error": ...}.
        return [Frame(format_error(error))]
