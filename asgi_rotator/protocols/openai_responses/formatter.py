"""OpenAI Responses client streams: typed SSE events with ``sequence_number``, opened and closed item by item.

One lifecycle per stream: ``response.created`` and ``response.in_progress`` once, then output items
(``output_item.added`` ... ``output_item.done``), then exactly one of ``response.completed``,
``response.incomplete`` or ``response.failed`` carrying the full Response object.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import GatewayError
from .._common import new_id, now
from ..base import Frame, StreamFormatter
from ..unified import StreamEvent, ToolDefinition, UnifiedRequest, Usage
from .client_tools import native_call_item, tool_table
from .responses import (
    CALL_PREFIXES,
    UPSTREAM_FAILED,
    call_item,
    message_item,
    output_text,
    reasoning_item,
    response_object,
    response_status,
)


class ResponsesStreamFormatter(StreamFormatter):
    """Formats canonical events as Responses SSE events; block changes close the open item."""

    heartbeat = b": keep-alive\n\n"

    def __init__(self, request: UnifiedRequest, response_id: str) -> None:
        self._request = request
        self._id = response_id
        self._created = now()
        self._sequence = 0
        self._started = False
        self._done = False
        self._output: list[dict[str, Any]] = []  # closed items, in order
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._text = ""  # the open message's text, or the open summary part's
        self._summary_open = False
        self._call_index: int | None = None  # the tool index of the open function_call item
        self._usage: Usage | None = None
        self._translated = tool_table(request.tools)  # tools that go back as their own item types
        self._open_tool: ToolDefinition | None = None  # the open call's translated tool
        self._arguments = ""  # that call's arguments, sent whole when it closes

    def feed(self, event: StreamEvent) -> list[Frame]:
        if self._done:
            return []
        frames: list[Frame] = []
        if not self._started:
            # Lazily, so a stream that begins with usage or an error is still a whole lifecycle.
            self._started = True
            frames.append(self._frame("response.created", response=self._snapshot("in_progress")))
            frames.append(self._frame("response.in_progress", response=self._snapshot("in_progress")))
        kind = event.kind
        if kind == "text" and event.text:
            frames += self._text_delta(event.text)
        elif kind == "reasoning" and event.text:
            frames += self._reasoning_delta(event.text)
        elif kind == "reasoning_signature" and self._is_open("reasoning"):
            frames += self._close_summary()  # the next thought is a new summary part
        elif kind == "reasoning_redacted" and event.signature_family == "openai":
            # OpenAI's encrypted reasoning ends its item; only the Responses family gets it back.
            if not self._is_open("reasoning"):
                frames += self._open_item(reasoning_item(new_id("rs_"), None, None))
            assert self._open is not None
            self._open["encrypted_content"] = event.signature or event.text
            frames += self._close()
        elif kind == "tool_call_start":
            frames += self._close()
            call_id, name = event.id or new_id("call_"), event.name or ""
            tool = self._translated.get(name)
            if tool is None:
                item = call_item(new_id("fc_"), call_id, name, "", "in_progress")
            else:
                item = native_call_item(new_id(CALL_PREFIXES[tool.client_kind]), call_id, name, "", "in_progress", tool)
            frames += self._open_item(item)
            self._call_index, self._open_tool, self._arguments = event.index, tool, ""
        elif kind == "tool_call_delta" and event.text and self._call_index == event.index:
            if self._open_tool is not None:
                self._arguments += event.text  # a translated call's item is whole only with all its arguments
            elif self._is_open("function_call"):
                assert self._open is not None
                self._open["arguments"] += event.text
                frames.append(self._item_frame("response.function_call_arguments.delta", delta=event.text))
        elif kind == "usage":
            self._usage = event.usage
        elif kind == "end":
            status, incomplete = response_status(event.stop_reason or "stop")
            usage = event.usage or self._usage
            if status == "failed":
                error = GatewayError("server_error", UPSTREAM_FAILED)
                frames += self._fail(error, usage)
            else:
                frames += self._close(status)
                final = self._snapshot(status, usage=usage, incomplete=incomplete)
                frames.append(self._frame(f"response.{status}", response=final))
                self._done = True
        elif kind == "error":
            error = event.error
            if not isinstance(error, GatewayError):
                error = GatewayError("server_error", str(error or "The upstream stream failed."))
            frames += self._fail(error, self._usage)
        return frames

    def _close_translated(self, item: dict[str, Any], tool: ToolDefinition, status: str) -> list[Frame]:
        """Complete a translated call's item from its whole arguments (Codex reads ``input`` from the deltas
        of a ``custom_tool_call``)."""
        done = native_call_item(item["id"], item["call_id"], tool.name, self._arguments, status, tool)
        item.clear()
        item.update(done)
        if item["type"] == "custom_tool_call":
            text = item["input"]
            return [
                self._item_frame("response.custom_tool_call_input.delta", delta=text),
                self._item_frame("response.custom_tool_call_input.done", input=text),
            ]
        if item["type"] == "function_call":
            return [self._item_frame("response.function_call_arguments.done", arguments=item["arguments"])]
        return []

    # -- frames --------------------------------------------------------------------------------------------

    def _frame(self, kind: str, **fields: Any) -> Frame:
        frame = Frame({"type": kind, "sequence_number": self._sequence, **fields}, event=kind)
        self._sequence += 1
        return frame

    def _item_frame(self, kind: str, **fields: Any) -> Frame:
        assert self._open is not None
        return self._frame(kind, item_id=self._open["id"], output_index=len(self._output), **fields)

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self._id, self._request, self._created, status, list(self._output), **extra)

    def _fail(self, error: GatewayError, usage: Usage | None) -> list[Frame]:
        frames = self._close("incomplete")
        frames.append(self._frame("response.failed", response=self._snapshot("failed", usage=usage, error=error)))
        self._done = True
        return frames

    # -- items ---------------------------------------------------------------------------------------------

    def _is_open(self, kind: str) -> bool:
        return self._open is not None and self._open["type"] == kind

    def _open_item(self, item: dict[str, Any]) -> list[Frame]:
        self._open, self._text, self._summary_open = item, "", False
        return [self._frame("response.output_item.added", output_index=len(self._output), item=copy.deepcopy(item))]

    def _text_delta(self, text: str) -> list[Frame]:
        frames: list[Frame] = []
        if not self._is_open("message"):
            frames += self._close()
            frames += self._open_item(message_item(new_id("msg_"), None, "in_progress"))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            frames.append(self._item_frame("response.content_part.added", content_index=0, part=part))
        self._text += text
        frames.append(self._item_frame("response.output_text.delta", content_index=0, delta=text, logprobs=[]))
        return frames

    def _reasoning_delta(self, text: str) -> list[Frame]:
        frames: list[Frame] = []
        if not self._is_open("reasoning"):
            frames += self._close()
            frames += self._open_item(reasoning_item(new_id("rs_"), None, None))
        assert self._open is not None
        index = len(self._open["summary"])
        if not self._summary_open:
            self._summary_open, self._text = True, ""
            part = {"type": "summary_text", "text": ""}
            frames.append(self._item_frame("response.reasoning_summary_part.added", summary_index=index, part=part))
        self._text += text
        frames.append(self._item_frame("response.reasoning_summary_text.delta", summary_index=index, delta=text))
        return frames

    def _close_summary(self) -> list[Frame]:
        if not self._summary_open:
            return []
        assert self._open is not None
        index, part = len(self._open["summary"]), {"type": "summary_text", "text": self._text}
        self._summary_open = False
        self._open["summary"].append(part)
        return [
            self._item_frame("response.reasoning_summary_text.done", summary_index=index, text=self._text),
            self._item_frame("response.reasoning_summary_part.done", summary_index=index, part=part),
        ]

    def _close(self, status: str = "completed") -> list[Frame]:
        """Close the open item (``incomplete`` when the stream failed inside it)."""
        item = self._open
        if item is None:
            return []
        frames: list[Frame] = []
        if item["type"] == "message":
            part = output_text(self._text)
            frames.append(self._item_frame("response.output_text.done", content_index=0, text=self._text, logprobs=[]))
            frames.append(self._item_frame("response.content_part.done", content_index=0, part=part))
            item["content"], item["status"] = [part], status
        elif item["type"] == "reasoning":
            frames += self._close_summary()
        elif self._open_tool is not None:
            frames += self._close_translated(item, self._open_tool, status)
        else:
            item["arguments"] = item["arguments"] or "{}"
            frames.append(self._item_frame("response.function_call_arguments.done", arguments=item["arguments"]))
            item["status"] = status
        frames.append(
            self._frame("response.output_item.done", output_index=len(self._output), item=copy.deepcopy(item))
        )
        self._output.append(item)
        self._open, self._text, self._call_index, self._open_tool = None, "", None, None
        return frames
