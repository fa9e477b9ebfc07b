"""The Anthropic Messages client stream: canonical events as ``message_start`` … ``message_stop`` frames."""

from __future__ import annotations

from typing import Any

from ...errors import GatewayError
from .._common import new_id
from ..base import Frame, StreamFormatter
from ..unified import StreamEvent, UnifiedRequest, Usage
from .content import FAMILY
from .responses import format_error, format_usage, native_stop


class AnthropicStreamFormatter(StreamFormatter):
    """Formats canonical events as an Anthropic stream, opening and closing content blocks itself.

    ``message_start`` goes out lazily, with the first output (or the terminal), so that usage reported before
    any output (an Anthropic upstream's input and cache counts) rides on it as the real API sends it. The
    final ``message_delta`` repeats the cumulative input counts, which the SDK takes over the start's: usage
    that only arrived at the end (OpenAI, Gemini upstreams) is still right in the client's final message.
    """

    heartbeat = b'event: ping\ndata: {"type": "ping"}\n\n'

    def __init__(self, request: UnifiedRequest, response_id: str) -> None:
        self._id = response_id
        self._model = request.model
        self._usage: Usage | None = None
        self._started = False
        self._index = -1  # the Anthropic index of the last block opened
        self._open: str | None = None  # "text" | "thinking" | "tool_use" while a block is open
        self._open_tool = -1  # the canonical tool index of the open tool_use block
        self._signed = False  # the open thinking block already got its signature
        self._saw_tool = False
        self._done = False

    def feed(self, event: StreamEvent) -> list[Frame]:
        if self._done:
            return []
        kind = event.kind
        if kind == "start":
            return []  # the lifecycle starts once, lazily; a retry's second start changes nothing
        if kind == "usage":
            self._usage = event.usage or self._usage
            return []
        frames = self._message_start()
        own = event.signature_family == FAMILY and bool(event.signature)
        if kind == "text" and event.text:
            frames += self._block("text", {"type": "text", "text": ""})
            frames.append(self._delta({"type": "text_delta", "text": event.text}))
        elif kind == "reasoning" and event.text:
            frames += self._thinking()
            frames.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
        elif kind == "reasoning_signature" and own:
            frames += self._thinking()
            frames.append(self._delta({"type": "signature_delta", "signature": event.signature}))
            self._signed = True
        elif kind == "reasoning_redacted" and own:
            frames += self._close()
            frames += self._block("redacted_thinking", {"type": "redacted_thinking", "data": event.signature})
            frames += self._close()
        elif kind == "tool_call_start":
            self._saw_tool = True
            frames += self._close()
            block = {"type": "tool_use", "id": event.id or new_id("toolu_"), "name": event.name or "", "input": {}}
            frames += self._block("tool_use", block)
            self._open_tool = event.index
        elif kind == "tool_call_delta" and event.text and self._open == "tool_use" and event.index == self._open_tool:
            frames.append(self._delta({"type": "input_json_delta", "partial_json": event.text}))
        elif kind == "end":
            frames += self._close()
            stop = native_stop(event.stop_reason or "stop", event.native_stop_reason, self._saw_tool)
            delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
            frames.append(Frame({**delta, "usage": format_usage(event.usage or self._usage)}, event="message_delta"))
            frames.append(Frame({"type": "message_stop"}, event="message_stop"))
            self._done = True
        elif kind == "error":
            error = event.error
            if not isinstance(error, GatewayError):
                error = GatewayError("server_error", str(error) if error else "The upstream stream failed.")
            # The anthropic SDK raises on an "error" event wherever it comes; no message_stop follows a failure.
            frames.append(Frame(format_error(error), event="error"))
            self._done = True
        return frames

    def _message_start(self) -> list[Frame]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": format_usage(self._usage),
        }
        return [Frame({"type": "message_start", "message": message}, event="message_start")]

    def _thinking(self) -> list[Frame]:
        """Keep the open thinking block, or open one (a signed block is complete: more thinking is a new block)."""
        if self._open == "thinking" and not self._signed:
            return []
        return self._block("thinking", {"type": "thinking", "thinking": "", "signature": ""})

    def _block(self, kind: str, block: dict[str, Any]) -> list[Frame]:
        if self._open == kind and kind == "text":
            return []
        frames = self._close()
        self._index += 1
        self._open, self._signed = kind, False
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return [*frames, Frame(start, event="content_block_start")]

    def _close(self) -> list[Frame]:
        if self._open is None:
            return []
        self._open = None
        return [Frame({"type": "content_block_stop", "index": self._index}, event="content_block_stop")]

    def _delta(self, delta: dict[str, Any]) -> Frame:
        return Frame({"type": "content_block_delta", "index": self._index, "delta": delta}, event="content_block_delta")
