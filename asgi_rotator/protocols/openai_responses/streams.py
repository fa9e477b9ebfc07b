"""OpenAI Responses streams: typed events with ``sequence_number``, from ``response.created`` to
``response.completed`` / ``incomplete`` / ``failed``."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import new_id, now, upstream_invalid
from ..base import Frame, StreamFormatter, StreamParser
from ..unified import StopReason, StreamEvent, UnifiedRequest, Usage
from .responses import (
    call_item,
    message_item,
    parse_usage,
    reasoning_item,
    response_object,
    stop_reason,
)

_INCOMPLETE = {"max_tokens": "max_output_tokens", "incomplete": "max_output_tokens", "content_filter": "content_filter"}


class ResponsesStreamParser(StreamParser):
    """Parses an upstream Responses stream; complete only on ``response.completed`` or ``incomplete``."""

    def __init__(self, error_from_body: Any) -> None:
        self._error_from_body = error_from_body
        self._started = False
        self._tools: dict[str, int] = {}  # item id -> tool index
        self._done = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if self._done:
            return []
        try:
            payload = _json.loads(data)
        except _json.JSONDecodeError:
            return self._fail(upstream_invalid("OpenAI Responses", "a stream event is not JSON"))
        if not isinstance(payload, dict):
            return self._fail(upstream_invalid("OpenAI Responses", "a stream event is not an object"))
        kind = payload.get("type") or event
        out: list[StreamEvent] = []
        if not self._started and kind != "error":
            self._started = True
            response: dict[str, Any] = payload["response"] if isinstance(payload.get("response"), dict) else {}
            out.append(StreamEvent("start", id=response.get("id"), name=response.get("model")))
        if kind == "response.output_text.delta":
            out.append(StreamEvent("text", text=str(payload.get("delta", ""))))
        elif kind == "response.reasoning_summary_text.delta":
            out.append(StreamEvent("reasoning", text=str(payload.get("delta", ""))))
        elif kind == "response.output_item.added" and (payload.get("item") or {}).get("type") == "function_call":
            item = payload["item"]
            index = self._tools.setdefault(str(item.get("id") or item.get("call_id")), len(self._tools))
            out.append(StreamEvent("tool_call_start", index=index, id=item.get("call_id"), name=item.get("name")))
            if item.get("arguments"):
                out.append(StreamEvent("tool_call_delta", index=index, text=item["arguments"]))
        elif kind == "response.function_call_arguments.delta":
            index = self._tools.get(str(payload.get("item_id")), 0)
            out.append(StreamEvent("tool_call_delta", index=index, text=str(payload.get("delta", ""))))
        elif kind == "response.output_item.done" and (payload.get("item") or {}).get("type") == "reasoning":
            encrypted = payload["item"].get("encrypted_content")
            if encrypted:
                out.append(StreamEvent("reasoning_redacted", signature=encrypted, signature_family="openai"))
        elif kind in ("response.completed", "response.incomplete"):
            response = payload.get("response") or {}
            usage = parse_usage(response.get("usage"), response)
            parts_have_calls = bool(self._tools)
            stop: StopReason = stop_reason(response.get("status"), response.get("incomplete_details"), [])
            if stop == "stop" and parts_have_calls:
                stop = "tool_use"
            self._done = True
            if usage is not None:
                out.append(StreamEvent("usage", usage=usage))
            out.append(StreamEvent("end", stop_reason=stop, native_stop_reason=response.get("status"), usage=usage))
        elif kind == "response.failed":
            error = (payload.get("response") or {}).get("error") or {}
            return out + self._fail(self._error_from_body({"error": error}))
        elif kind == "error":
            return out + self._fail(self._error_from_body(payload if "error" in payload else {"error": payload}))
        return out

    def finish(self) -> list[StreamEvent]:
        if self._done:
            return []
        return self._fail(GatewayError("server_error", "The upstream stream ended before response.completed."))

    def _fail(self, error: GatewayError) -> list[StreamEvent]:
        self._done = True
        return [StreamEvent("error", error=error)]


class ResponsesStreamFormatter(StreamFormatter):
    """Formats canonical events as Responses SSE events, opening and closing output items itself."""

    heartbeat = b": keep-alive\n\n"

    def __init__(self, request: UnifiedRequest, response_id: str) -> None:
        self._request = request
        self._id = response_id
        self._created = now()
        self._sequence = 0
        self._started = False
        self._output: list[dict[str, Any]] = []  # completed items
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._text = ""
        self._usage: Usage | None = None
        self._tool_items: dict[int, dict[str, Any]] = {}

    def _frame(self, kind: str, **fields: Any) -> Frame:
        frame = Frame({"type": kind, "sequence_number": self._sequence, **fields}, event=kind)
        self._sequence += 1
        return frame

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self._id, self._request, self._created, status, list(self._output), **extra)

    def feed(self, event: StreamEvent) -> list[Frame]:
        frames: list[Frame] = []
        if not self._started:
            self._started = True
            frames.append(self._frame("response.created", response=self._snapshot("in_progress")))
            frames.append(self._frame("response.in_progress", response=self._snapshot("in_progress")))
        kind = event.kind
        if kind == "text":
            if self._open is None or self._open["type"] != "message":
                frames += self._close()
                frames += self._open_item(message_item(new_id("msg_"), None, "in_progress"))
                frames.append(
                    self._frame(
                        "response.content_part.added",
                        item_id=self._open_id,
                        output_index=self._index,
                        content_index=0,
                        part={"type": "output_text", "text": "", "annotations": []},
                    )
                )
            self._text += event.text
            frames.append(
                self._frame(
                    "response.output_text.delta",
                    item_id=self._open_id,
                    output_index=self._index,
                    content_index=0,
                    delta=event.text,
                    logprobs=[],
                )
            )
        elif kind == "reasoning":
            if self._open is None or self._open["type"] != "reasoning":
                frames += self._close()
                frames += self._open_item(reasoning_item(new_id("rs_"), None, None))
                frames.append(
                    self._frame(
                        "response.reasoning_summary_part.added",
                        item_id=self._open_id,
                        output_index=self._index,
                        summary_index=0,
                        part={"type": "summary_text", "text": ""},
                    )
                )
            self._text += event.text
            frames.append(
                self._frame(
                    "response.reasoning_summary_text.delta",
                    item_id=self._open_id,
                    output_index=self._index,
                    summary_index=0,
                    delta=event.text,
                )
            )
        elif kind == "reasoning_redacted" and event.signature_family == "openai":
            if self._open is None or self._open["type"] != "reasoning":
                frames += self._close()
                frames += self._open_item(reasoning_item(new_id("rs_"), None, None))
            assert self._open is not None
            self._open["encrypted_content"] = event.signature or event.text
        elif kind == "tool_call_start":
            frames += self._close()
            item = call_item(new_id("fc_"), event.id or new_id("call_"), event.name or "", "", "in_progress")
            self._tool_items[event.index] = item
            frames += self._open_item(item)
        elif kind == "tool_call_delta":
            call = self._tool_items.get(event.index)
            if call is not None and call is self._open:
                item = call
                item["arguments"] += event.text
                frames.append(
                    self._frame(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=self._index,
                        delta=event.text,
                    )
                )
        elif kind == "usage":
            self._usage = event.usage
        elif kind == "end":
            frames += self._close()
            stop = event.stop_reason or "stop"
            incomplete = _INCOMPLETE.get(stop)
            final = self._snapshot(
                "incomplete" if incomplete else "completed", usage=event.usage or self._usage, incomplete=incomplete
            )
            frames.append(self._frame("response.incomplete" if incomplete else "response.completed", response=final))
        elif kind == "error":
            frames += self._close()
            error = event.error if isinstance(event.error, GatewayError) else GatewayError("server_error", "failed")
            frames.append(
                self._frame("response.failed", response=self._snapshot("failed", usage=self._usage, error=error))
            )
        return frames

    @property
    def _index(self) -> int:
        return len(self._output)

    @property
    def _open_id(self) -> str:
        assert self._open is not None
        return str(self._open["id"])

    def _open_item(self, item: dict[str, Any]) -> list[Frame]:
        self._open, self._text = item, ""
        return [self._frame("response.output_item.added", output_index=self._index, item=dict(item))]

    def _close(self) -> list[Frame]:
        item = self._open
        if item is None:
            return []
        frames: list[Frame] = []
        index = self._index
        if item["type"] == "message":
            part = {"type": "output_text", "text": self._text, "annotations": [], "logprobs": []}
            frames.append(
                self._frame(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=self._text,
                    logprobs=[],
                )
            )
            frames.append(
                self._frame(
                    "response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part
                )
            )
            item["content"] = [part]
        elif item["type"] == "reasoning":
            if self._text:
                part = {"type": "summary_text", "text": self._text}
                frames.append(
                    self._frame(
                        "response.reasoning_summary_text.done",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=0,
                        text=self._text,
                    )
                )
                frames.append(
                    self._frame(
                        "response.reasoning_summary_part.done",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=0,
                        part=part,
                    )
                )
                item["summary"] = [part]
        else:
            item["arguments"] = item["arguments"] or "{}"
            frames.append(
                self._frame(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    arguments=item["arguments"],
                    name=item["name"],
                )
            )
        item["status"] = "completed"
        if item["type"] == "reasoning":
            item.pop("status")
        frames.append(self._frame("response.output_item.done", output_index=index, item=dict(item)))
        self._output.append(item)
        self._open, self._text = None, ""
        return frames
