"""OpenAI Chat Completions streams: ``chat.completion.chunk`` frames ending in ``data: [DONE]``."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import now, upstream_invalid
from ..base import Frame, SSEData, StreamFormatter, StreamParser, decoded
from ..unified import StopReason, StreamEvent, UnifiedRequest, Usage
from .responses import FINISH_TO_STOP, finish_reason, format_error, format_usage, parse_usage


class ChatStreamParser(StreamParser):
    """Parses an upstream Chat stream. It is complete only once a ``finish_reason`` was seen."""

    def __init__(self, error_from_body: Any) -> None:
        self._error_from_body = error_from_body
        self._started = False
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._open_tools: set[int] = set()
        self._done = False

    def feed(self, event: str | None, data: SSEData) -> list[StreamEvent]:
        if self._done:
            return []
        if data == "[DONE]":
            return self._terminal()
        try:
            chunk = decoded(data)
        except _json.JSONDecodeError:
            return self._fail(upstream_invalid("OpenAI Chat", "a stream chunk is not JSON"))
        if not isinstance(chunk, dict):
            return self._fail(upstream_invalid("OpenAI Chat", "a stream chunk is not an object"))
        if "error" in chunk:
            return self._fail(self._error_from_body(chunk))
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(StreamEvent("start", id=chunk.get("id"), name=chunk.get("model")))
        usage = parse_usage(chunk.get("usage"), chunk)
        if usage is not None:
            self._usage = usage
            events.append(StreamEvent("usage", usage=usage))
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(StreamEvent("reasoning", text=reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.append(StreamEvent("text", text=content))
            for call in delta.get("tool_calls") or ():
                self._tool_delta(call.get("index", 0), call.get("id"), call.get("function") or {}, events)
            legacy = delta.get("function_call")
            if isinstance(legacy, dict):
                self._tool_delta(0, None, legacy, events)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events

    def _tool_delta(self, index: int, call_id: str | None, function: dict[str, Any], out: list[StreamEvent]) -> None:
        if index not in self._open_tools:
            self._open_tools.add(index)
            out.append(
                StreamEvent(
                    "tool_call_start", index=index, id=call_id or f"call_{index}", name=function.get("name") or ""
                )
            )
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(StreamEvent("tool_call_delta", index=index, text=arguments))

    def finish(self) -> list[StreamEvent]:
        if self._done:
            return []
        return self._terminal()

    def _terminal(self) -> list[StreamEvent]:
        if self._finish is None:
            return self._fail(GatewayError("server_error", "The upstream stream ended before a finish_reason."))
        self._done = True
        stop: StopReason = FINISH_TO_STOP.get(self._finish, "unknown")
        if self._open_tools and stop == "stop":
            stop = "tool_use"
        return [StreamEvent("end", stop_reason=stop, native_stop_reason=self._finish, usage=self._usage)]

    def _fail(self, error: GatewayError) -> list[StreamEvent]:
        self._done = True
        return [StreamEvent("error", error=error)]


class ChatStreamFormatter(StreamFormatter):
    """Formats canonical events as Chat chunks. Usage goes out only if the client asked for it."""

    heartbeat = b": keep-alive\n\n"

    def __init__(self, request: UnifiedRequest, response_id: str) -> None:
        self._request = request
        self._base = {"id": response_id, "object": "chat.completion.chunk", "created": now(), "model": request.model}
        self._started = False
        self._usage: Usage | None = None
        self._saw_tool = False
        self._legacy = (
            request.source_protocol == "openai_chat" and "functions" in request.raw and "tools" not in request.raw
        )

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Frame:
        return Frame({**self._base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def feed(self, event: StreamEvent) -> list[Frame]:
        kind = event.kind
        frames: list[Frame] = []
        if not self._started and kind not in ("error",):
            self._started = True
            frames.append(self._chunk({"role": "assistant", "content": ""}))
        if kind == "text":
            frames.append(self._chunk({"content": event.text}))
        elif kind == "reasoning":
            frames.append(self._chunk({"reasoning_content": event.text}))
        elif kind == "tool_call_start":
            self._saw_tool = True
            if self._legacy:
                frames.append(self._chunk({"function_call": {"name": event.name, "arguments": ""}}))
            else:
                call = {
                    "index": event.index,
                    "id": event.id,
                    "type": "function",
                    "function": {"name": event.name, "arguments": ""},
                }
                frames.append(self._chunk({"tool_calls": [call]}))
        elif kind == "tool_call_delta":
            if self._legacy:
                frames.append(self._chunk({"function_call": {"arguments": event.text}}))
            else:
                frames.append(
                    self._chunk({"tool_calls": [{"index": event.index, "function": {"arguments": event.text}}]})
                )
        elif kind == "usage":
            self._usage = event.usage
        elif kind == "end":
            stop = event.stop_reason or "stop"
            if self._saw_tool and stop == "stop":
                stop = "tool_use"
            frames.append(self._chunk({}, finish_reason(stop, self._request, self._legacy)))
            usage = event.usage or self._usage
            if self._request.include_usage and usage is not None:
                frames.append(Frame({**self._base, "choices": [], "usage": format_usage(usage)}))
            frames.append(Frame("[DONE]"))
        elif kind == "error":
            # The openai SDK raises APIError on a data frame with an "error" key; no [DONE] follows a failure.
            frames.append(Frame(format_error(event.error)))
        return frames
