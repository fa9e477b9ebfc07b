"""OpenAI Responses answers: the Response object, its output items, usage, status and errors."""

from __future__ import annotations

from typing import Any

from ...errors import GatewayError
from .._common import new_id, upstream_invalid
from ..cost import provider_cost
from ..openai_chat.responses import format_error as _chat_error
from ..unified import Part, Reasoning, StopReason, Text, ToolCall, UnifiedRequest, UnifiedResponse, Usage

_INCOMPLETE_REASONS = {
    "max_tokens": "max_output_tokens",
    "incomplete": "max_output_tokens",
    "content_filter": "content_filter",
}


def parse_usage(raw: Any, body: dict[str, Any] | None = None) -> Usage | None:
    """Canonical usage from a Responses ``usage`` object (its ``input_tokens`` include cached ones)."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("input_tokens_details") or {}
    cached, written = _int(details.get("cached_tokens")), _int(details.get("cache_write_tokens"))
    return Usage(
        input_tokens=max(_int(raw.get("input_tokens")) - cached - written, 0),
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=_int((raw.get("output_tokens_details") or {}).get("reasoning_tokens")),
        provider_cost_usd=provider_cost(body or {}, raw),
    )


def format_usage(usage: Usage) -> dict[str, Any]:
    """A Responses ``usage`` object from canonical usage."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_output(output: Any) -> list[Part]:
    """Output items as unified parts, in order."""
    parts: list[Part] = []
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for content in item.get("content") or ():
                text = content.get("text") if content.get("type") == "output_text" else content.get("refusal")
                if isinstance(text, str):
                    parts.append(Text(text))
        elif kind == "function_call":
            parts.append(
                ToolCall(
                    item.get("call_id") or item.get("id") or new_id("call_"),
                    item.get("name", ""),
                    item.get("arguments") or "{}",
                )
            )
        elif kind == "reasoning":
            summary = "".join(s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict))
            encrypted = item.get("encrypted_content")
            parts.append(
                Reasoning(
                    summary,
                    redacted=encrypted,
                    item_id=item.get("id"),
                    signature_family="openai" if encrypted else None,
                )
            )
    return parts


def stop_reason(status: str | None, incomplete: Any, parts: list[Part]) -> StopReason:
    """The canonical stop reason of a Response's status (a completed answer with calls is ``tool_use``)."""
    if status == "completed":
        return "tool_use" if any(isinstance(p, ToolCall) for p in parts) else "stop"
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status == "failed":
        return "error"
    return "unknown"


def parse_response(body: dict[str, Any]) -> UnifiedResponse:
    """Parse an upstream Response object."""
    if body.get("object") not in (None, "response") or not isinstance(body.get("output"), list):
        raise upstream_invalid("OpenAI Responses", "no output list")
    parts = parse_output(body["output"])
    status = body.get("status")
    return UnifiedResponse(
        id="",
        model=str(body.get("model", "")),
        parts=parts,
        stop_reason=stop_reason(status, body.get("incomplete_details"), parts),
        native_stop_reason=status if isinstance(status, str) else None,
        usage=parse_usage(body.get("usage"), body),
        created=body["created_at"] if isinstance(body.get("created_at"), int) else 0,
        upstream_id=body.get("id") if isinstance(body.get("id"), str) else None,
    )


def output_items(parts: list[Part]) -> list[dict[str, Any]]:
    """Unified parts as completed Responses output items (text runs merge into one message)."""
    items: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Reasoning):
            items.append(
                reasoning_item(
                    part.item_id or new_id("rs_"),
                    part.text,
                    part.redacted if part.signature_family == "openai" else None,
                )
            )
        elif isinstance(part, Text):
            if items and items[-1]["type"] == "message":
                items[-1]["content"].append(_output_text(part.text))
            else:
                items.append(message_item(new_id("msg_"), part.text, "completed"))
        elif isinstance(part, ToolCall):
            items.append(call_item(new_id("fc_"), part.id, part.name, part.arguments, "completed"))
    return items


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """A message output item (``text`` None: with no content yet)."""
    content = [] if text is None else [_output_text(text)]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    """A function_call output item."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(item_id: str, summary: str | None, encrypted: str | None) -> dict[str, Any]:
    """A reasoning output item; OpenAI's encrypted state rides along only when it is OpenAI's own."""
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [] if not summary else [{"type": "summary_text", "text": summary}],
    }
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def response_object(
    response_id: str,
    request: UnifiedRequest,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    *,
    incomplete: str | None = None,
    error: GatewayError | None = None,
) -> dict[str, Any]:
    """The Response object clients get, in every state (in_progress, completed, incomplete, failed)."""
    raw = request.raw if request.source_protocol == "openai_responses" else {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": request.model,
        "output": output,
        "usage": format_usage(usage) if usage is not None else None,
        # The Response schema allows only its own error codes; the message says what really happened.
        "error": {
            "code": "rate_limit_exceeded"
            if error.kind in ("rate_limit", "quota_exceeded", "no_credentials")
            else "server_error",
            "message": error.message,
        }
        if error is not None
        else None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": raw.get("instructions"),
        "tools": raw.get("tools") or [],
        "tool_choice": raw.get("tool_choice") or "auto",
        "parallel_tool_calls": raw.get("parallel_tool_calls", True),
        "text": raw.get("text") or {"format": {"type": "text"}},
        "reasoning": raw.get("reasoning"),
        "max_output_tokens": request.max_tokens,
        "previous_response_id": request.previous_response_id,
        "store": request.store is not False,
        "metadata": request.metadata or {},
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
    }


def format_response(response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
    """Render a unified answer as a Response object."""
    stop = response.stop_reason
    status = "failed" if stop == "error" else "incomplete" if stop in _INCOMPLETE_REASONS else "completed"
    error = (
        GatewayError("server_error", "The upstream failed before completing the response.")
        if status == "failed"
        else None
    )
    return response_object(
        response.id,
        request,
        response.created,
        status,
        output_items(response.parts),
        response.usage,
        incomplete=_INCOMPLETE_REASONS.get(stop),
        error=error,
    )


def format_error(error: GatewayError) -> dict[str, Any]:
    """The OpenAI error body, as for Chat."""
    return _chat_error(error)
