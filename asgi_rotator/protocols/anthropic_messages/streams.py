"""Anthropic Messages streams: ``message_start``, content blocks (start, deltas, stop), ``message_delta``,
``message_stop``; ``ping`` keeps the line alive and ``error`` fails the stream in-band.

Usage: input and cache tokens come with ``message_start``; ``message_delta`` carries the cumulative output count
(and, on current API versions, the cumulative input counts again, which replace rather than add).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import upstream_invalid
from ..base import SSEData, StreamParser, decoded, is_blank
from ..unified import StreamEvent, Usage
from .content import FAMILY
from .responses import NAME, parse_usage, stop_reason


class AnthropicStreamParser(StreamParser):
    """Parses an upstream Messages stream. It is complete only once ``message_stop`` arrived."""

    def __init__(self, error_from_body: Callable[[Any], GatewayError]) -> None:
        self._error_from_body = error_from_body
        self._usage: Usage | None = None
        #: Anthropic block index -> kind, and tool-use block index -> the tool call's index in this answer.
        self._blocks: dict[int, str] = {}
        self._tools: dict[int, int] = {}
        self._native: str | None = None
        self._done = False

    def feed(self, event: str | None, data: SSEData) -> list[StreamEvent]:
        if self._done or event == "ping" or is_blank(data):
            return []
        try:
            payload = decoded(data)
        except _json.JSONDecodeError:
            if event == "error" and isinstance(data, str):  # some proxies put a bare message in the error event
                return self._fail(self._error_from_body({"error": {"type": "api_error", "message": data.strip()}}))
            return self._fail(upstream_invalid(NAME, "a stream event is not JSON"))
        if not isinstance(payload, dict):
            return self._fail(upstream_invalid(NAME, "a stream event is not an object"))
        kind = payload.get("type") or event
        if kind == "error" or event == "error":
            return self._fail(self._error_from_body(payload))
        if kind == "message_start":
            return self._start(payload.get("message"))
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            self._done = True
            stop = stop_reason(self._native, bool(self._tools))
            return [StreamEvent("end", stop_reason=stop, native_stop_reason=self._native, usage=self._usage)]
        return []  # ping, content_block_stop and event types added later

    def _start(self, message: Any) -> list[StreamEvent]:
        if not isinstance(message, dict):
            return self._fail(upstream_invalid(NAME, "message_start without a message"))
        events = [StreamEvent("start", id=message.get("id"), name=message.get("model"))]
        self._usage = parse_usage(message.get("usage"), message)
        if self._usage is not None:
            # Before any output, so a client formatter can put the input counts in its own start event.
            events.append(StreamEvent("usage", usage=self._usage))
        return events

    def _block_start(self, payload: dict[str, Any]) -> list[StreamEvent]:
        index, block = payload.get("index"), payload.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return self._fail(upstream_invalid(NAME, "content_block_start without index or block"))
        kind = str(block.get("type"))
        self._blocks[index] = kind
        if kind == "text" and block.get("text"):
            return [StreamEvent("text", text=str(block["text"]))]
        if kind == "thinking":
            events = [StreamEvent("reasoning", text=str(block["thinking"]))] if block.get("thinking") else []
            return events + self._signature(block.get("signature"))
        if kind == "redacted_thinking" and isinstance(block.get("data"), str):
            return [StreamEvent("reasoning_redacted", signature=block["data"], signature_family=FAMILY)]
        if kind == "tool_use":
            tool = self._tools[index] = len(self._tools)
            events = [StreamEvent("tool_call_start", index=tool, id=block.get("id"), name=block.get("name"))]
            if isinstance(block.get("input"), dict) and block["input"]:
                events.append(StreamEvent("tool_call_delta", index=tool, text=_json.dumps_str(block["input"])))
            return events
        return []  # server tool blocks have no unified form

    def _signature(self, signature: Any) -> list[StreamEvent]:
        if not isinstance(signature, str) or not signature:
            return []
        return [StreamEvent("reasoning_signature", signature=signature, signature_family=FAMILY)]

    def _delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        delta, index = payload.get("delta"), payload.get("index")
        if not isinstance(delta, dict):
            return self._fail(upstream_invalid(NAME, "content_block_delta without a delta"))
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [StreamEvent("text", text=str(delta["text"]))]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [StreamEvent("reasoning", text=str(delta["thinking"]))]
        if kind == "signature_delta":
            return self._signature(delta.get("signature"))
        if kind == "input_json_delta" and isinstance(index, int) and index in self._tools and delta.get("partial_json"):
            return [StreamEvent("tool_call_delta", index=self._tools[index], text=str(delta["partial_json"]))]
        return []

    def _message_delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        delta = payload.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self._native = delta["stop_reason"]
        raw = payload.get("usage")
        if not isinstance(raw, dict):
            return []
        final = parse_usage(raw, payload) or Usage()
        start = self._usage or Usage()
        # Every count here is cumulative: a repeated input count replaces the start's, it never adds to it.
        self._usage = Usage(
            input_tokens=max(start.input_tokens, final.input_tokens),
            output_tokens=final.output_tokens,
            cache_read_tokens=max(start.cache_read_tokens, final.cache_read_tokens),
            cache_write_tokens=max(start.cache_write_tokens, final.cache_write_tokens),
            reasoning_tokens=final.reasoning_tokens or start.reasoning_tokens,
            provider_cost_usd=final.provider_cost_usd
            if final.provider_cost_usd is not None
            else start.provider_cost_usd,
        )
        return [StreamEvent("usage", usage=self._usage)]

    def finish(self) -> list[StreamEvent]:
        if self._done:
            return []
        return self._fail(GatewayError("server_error", "The upstream Anthropic stream ended before message_stop."))

    def _fail(self, error: GatewayError) -> list[StreamEvent]:
        self._done = True
        return [StreamEvent("error", error=error)]
