"""OpenAI Responses upstream streams: typed events from ``response.created`` to ``response.completed``.

The parser reads the deltas; it falls back to an item's ``.done`` event only for content no delta carried
(some Responses-compatible servers send whole items).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import new_id, upstream_invalid
from ..base import SSEData, StreamParser, decoded
from ..unified import StreamEvent
from .responses import parse_usage, reasoning_part, stop_reason

ErrorFromBody = Callable[[Any], GatewayError]
_TEXT_DELTAS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_REASONING_DELTAS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})


class ResponsesStreamParser(StreamParser):
    """Parses an upstream Responses stream; complete only on ``response.completed`` or ``response.incomplete``."""

    def __init__(self, error_from_body: ErrorFromBody) -> None:
        self._error_from_body = error_from_body
        self._started = False
        self._done = False
        self._tools: dict[str, int] = {}  # function_call item id (or output index) -> tool index
        self._streamed: set[str] = set()  # items whose content arrived as deltas
        self._seen_items = False

    def feed(self, event: str | None, data: SSEData) -> list[StreamEvent]:
        if self._done or (isinstance(data, str) and data.strip() == "[DONE]"):
            return []
        try:
            payload = decoded(data)
        except _json.JSONDecodeError:
            return self._fail(upstream_invalid("OpenAI Responses", "a stream event is not JSON"))
        if not isinstance(payload, dict):
            return self._fail(upstream_invalid("OpenAI Responses", "a stream event is not an object"))
        kind = str(payload.get("type") or event or "")
        if kind == "error":
            return self._fail(self._error_from_body({"error": _in_band_error(payload)}))
        out: list[StreamEvent] = []
        response = _obj(payload.get("response"))
        if not self._started:
            self._started = True
            out.append(StreamEvent("start", id=response.get("id"), name=response.get("model")))
        item_id = str(payload.get("item_id") or "")
        self._seen_items = self._seen_items or kind.startswith("response.output_") or "item_id" in payload
        if kind in _TEXT_DELTAS or kind in _REASONING_DELTAS:
            self._streamed.add(item_id)
            if payload.get("delta"):
                out.append(StreamEvent("text" if kind in _TEXT_DELTAS else "reasoning", text=str(payload["delta"])))
        elif kind == "response.reasoning_summary_part.added":
            if payload.get("summary_index", 0) and item_id in self._streamed:
                out.append(StreamEvent("reasoning", text="\n\n"))  # summary parts join as paragraphs
        elif kind == "response.output_item.added":
            item = _obj(payload.get("item"))
            if item.get("type") == "function_call":
                self._start_call(item, payload.get("output_index"), out)
        elif kind == "response.function_call_arguments.delta":
            index = self._tool_index(payload)
            if index is not None and payload.get("delta"):
                self._streamed.add(item_id)
                out.append(StreamEvent("tool_call_delta", index=index, text=str(payload["delta"])))
        elif kind == "response.function_call_arguments.done":
            index = self._tool_index(payload)
            if index is not None:
                self._unstreamed_arguments(item_id, index, payload.get("arguments"), out)
        elif kind == "response.output_item.done":
            item = _obj(payload.get("item"))
            self._item_done(item, payload.get("output_index"), out)
        elif kind in ("response.completed", "response.incomplete"):
            self._done = True
            if not self._seen_items:
                # A minimal server may send only the final Response: its output is the whole answer.
                for item in response.get("output") or ():
                    self._item_done(_obj(item), None, out)
            usage = parse_usage(response.get("usage"), response)
            status = response.get("status") or kind.rpartition(".")[2]
            stop = stop_reason(status, response.get("incomplete_details"), bool(self._tools))
            if usage is not None:
                out.append(StreamEvent("usage", usage=usage))
            out.append(StreamEvent("end", stop_reason=stop, native_stop_reason=str(status), usage=usage))
        elif kind == "response.failed":
            error = response.get("error")
            if not isinstance(error, dict) or not error.get("message"):
                error = {"message": "The upstream response failed without saying why.", "code": "server_error"}
            return out + self._fail(self._error_from_body({"error": error}))
        return out

    def _start_call(self, item: dict[str, Any], output_index: Any, out: list[StreamEvent]) -> None:
        index = len(set(self._tools.values()))
        if item.get("id"):
            self._tools[str(item["id"])] = index
        self._tools[f"#{output_index}"] = index
        call_id = str(item.get("call_id") or item.get("id") or new_id("call_"))
        out.append(StreamEvent("tool_call_start", index=index, id=call_id, name=str(item.get("name") or "")))
        self._unstreamed_arguments(str(item.get("id") or ""), index, item.get("arguments"), out)

    def _tool_index(self, payload: dict[str, Any]) -> int | None:
        index = self._tools.get(str(payload.get("item_id") or ""))
        return index if index is not None else self._tools.get(f"#{payload.get('output_index')}")

    def _unstreamed_arguments(self, item_id: str, index: int, arguments: Any, out: list[StreamEvent]) -> None:
        if item_id not in self._streamed and isinstance(arguments, str) and arguments:
            self._streamed.add(item_id)
            out.append(StreamEvent("tool_call_delta", index=index, text=arguments))

    def _item_done(self, item: dict[str, Any], output_index: Any, out: list[StreamEvent]) -> None:
        kind, item_id = item.get("type"), str(item.get("id") or "")
        if kind == "function_call":
            index = self._tool_index({"item_id": item_id, "output_index": output_index})
            if index is None:
                self._start_call(item, output_index, out)
            else:
                self._unstreamed_arguments(item_id, index, item.get("arguments"), out)
        elif kind == "message" and item_id not in self._streamed:
            for content in item.get("content") or ():
                text = content.get("refusal") or content.get("text") if isinstance(content, dict) else None
                if isinstance(text, str) and text:
                    out.append(StreamEvent("text", text=text))
        elif kind == "reasoning":
            part = reasoning_part(item)
            if part.text and item_id not in self._streamed:
                out.append(StreamEvent("reasoning", text=part.text))
            if part.redacted:
                # Only the done event's encrypted_content is complete (the added event's may be partial).
                out.append(
                    StreamEvent(
                        "reasoning_redacted", id=part.item_id, signature=part.redacted, signature_family="openai"
                    )
                )

    def finish(self) -> list[StreamEvent]:
        if self._done:
            return []
        return self._fail(GatewayError("server_error", "The upstream stream ended before response.completed."))

    def _fail(self, error: GatewayError) -> list[StreamEvent]:
        self._done = True
        return [StreamEvent("error", error=error)]


def _in_band_error(payload: dict[str, Any]) -> dict[str, Any]:
    """An ``error`` event as an error body: flat (``code``, ``message``) or nested under ``error``."""
    inner = _obj(payload.get("error")) or payload
    code = inner.get("code")
    kind = inner.get("type") if inner.get("type") != "error" else None
    # The code is the precise signal (context_length_exceeded beats invalid_request_error).
    return {
        "message": inner.get("message") or "The upstream reported an error.",
        "type": code or kind,
        "code": code,
        "param": inner.get("param"),
    }


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
