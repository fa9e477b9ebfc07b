"""OpenAI Responses answers: the Response object, its output items, usage, status and errors."""

from __future__ import annotations

from typing import Any

from ...errors import GatewayError
from .._common import new_id, upstream_invalid
from ..cost import provider_cost
from ..openai_chat.responses import format_error as _chat_error
from ..unified import (
    Part,
    Reasoning,
    StopReason,
    Text,
    ToolCall,
    ToolDefinition,
    UnifiedRequest,
    UnifiedResponse,
    Usage,
)
from .client_tools import native_call_item, tool_table
from .requests import NAME

#: Canonical stop reasons that end a Response as ``incomplete``, with the ``incomplete_details.reason``.
INCOMPLETE_REASONS: dict[str, str] = {
    "max_tokens": "max_output_tokens",
    "incomplete": "max_output_tokens",
    "content_filter": "content_filter",
}
#: The only error codes the Response schema allows that say something about our error kinds.
UPSTREAM_FAILED = "The upstream failed to complete the response."
#: Id prefixes of the items translated tools' calls come back as.
CALL_PREFIXES = {"function": "fc_", "custom": "ctc_", "local_shell": "lsh_", "tool_search": "tsc_"}
_ERROR_CODES = {"rate_limit": "rate_limit_exceeded", "quota_exceeded": "rate_limit_exceeded"}


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
    """A Responses ``usage`` object from canonical usage (OpenAI semantics: input includes cached)."""
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


def reasoning_part(item: dict[str, Any]) -> Reasoning:
    """A reasoning output item as a unified part: the summary is its text, encrypted_content its state."""
    texts = [s.get("text") for s in item.get("summary") or () if isinstance(s, dict)]
    if not any(texts):
        # Servers that expose raw reasoning (gpt-oss behind vLLM and others) put it in content instead.
        texts = [c.get("text") for c in item.get("content") or () if isinstance(c, dict)]
    encrypted = item.get("encrypted_content")
    encrypted = encrypted if isinstance(encrypted, str) and encrypted else None
    return Reasoning(
        "\n\n".join(t for t in texts if isinstance(t, str)),
        redacted=encrypted,
        item_id=item.get("id") if isinstance(item.get("id"), str) else None,
        signature_family="openai" if encrypted else None,
    )


def parse_output(output: list[Any]) -> list[Part]:
    """Output items as unified parts, in order. Hosted tool calls ran upstream; their effect is in the text."""
    parts: list[Part] = []
    for item in output:
        if not isinstance(item, dict):
            raise upstream_invalid("OpenAI Responses", "an output item is not an object")
        kind = item.get("type")
        if kind == "message":
            for content in item.get("content") or ():
                if not isinstance(content, dict):
                    continue
                text = content.get("refusal") if content.get("type") == "refusal" else content.get("text")
                if isinstance(text, str) and text:
                    parts.append(Text(text))
        elif kind == "function_call":
            arguments = item.get("arguments")
            parts.append(
                ToolCall(
                    str(item.get("call_id") or item.get("id") or new_id("call_")),
                    str(item.get("name") or ""),
                    arguments if isinstance(arguments, str) and arguments else "{}",
                )
            )
        elif kind == "reasoning":
            parts.append(reasoning_part(item))
    return parts


def stop_reason(status: Any, incomplete: Any, has_calls: bool) -> StopReason:
    """The canonical stop reason of a Response's status (a completed answer with calls is ``tool_use``)."""
    if status == "completed":
        return "tool_use" if has_calls else "stop"
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status in ("failed", "cancelled"):
        return "error"
    return "unknown"


def parse_response(body: dict[str, Any]) -> UnifiedResponse:
    """Parse an upstream Response object."""
    if body.get("object") not in (None, "response") or not isinstance(body.get("output"), list):
        raise upstream_invalid("OpenAI Responses", "no output list")
    parts = parse_output(body["output"])
    status = body.get("status")
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    return UnifiedResponse(
        id="",
        model=str(body.get("model", "")),
        parts=parts,
        stop_reason=stop_reason(status, body.get("incomplete_details"), has_calls),
        native_stop_reason=status if isinstance(status, str) else None,
        usage=parse_usage(body.get("usage"), body),
        created=int(body["created_at"]) if isinstance(body.get("created_at"), int | float) else 0,
        upstream_id=body.get("id") if isinstance(body.get("id"), str) else None,
    )


def output_items(parts: list[Part], tools: dict[str, ToolDefinition] | None = None) -> list[dict[str, Any]]:
    """Unified parts as completed Responses output items, in order (a text run is one message); calls of
    translated tools (``tools``, by upstream name) come back as their own item types."""
    items: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Reasoning):
            encrypted = part.redacted if part.signature_family == "openai" else None
            if part.text or encrypted:  # another family's bare signature is nothing a client can use
                item_id = part.item_id if encrypted and part.item_id else new_id("rs_")
                items.append(reasoning_item(item_id, part.text, encrypted))
        elif isinstance(part, Text):
            last = items[-1] if items else None
            if last is not None and last["type"] == "message":
                last["content"][0]["text"] += part.text
            else:
                items.append(message_item(new_id("msg_"), part.text, "completed"))
        elif isinstance(part, ToolCall):
            tool = (tools or {}).get(part.name)
            if tool is not None:
                prefix = CALL_PREFIXES[tool.client_kind]
                items.append(native_call_item(new_id(prefix), part.id, part.name, part.arguments, "completed", tool))
            else:
                items.append(call_item(new_id("fc_"), part.id, part.name, part.arguments or "{}", "completed"))
    return items


def output_text(text: str) -> dict[str, Any]:
    """An ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """A message output item (``text`` None: with no content yet)."""
    content = [] if text is None else [output_text(text)]
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
    """A reasoning output item; ``encrypted`` only when it is OpenAI's own state."""
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def response_error(error: GatewayError) -> dict[str, Any]:
    """A Response's ``error``: the schema allows only its own codes, so the message says what happened."""
    return {"code": _ERROR_CODES.get(error.kind, "server_error"), "message": error.message}


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
    raw = request.raw if request.source_protocol == NAME else {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": response_error(error) if error is not None else None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": request.model,
        "output": output,
        "usage": format_usage(usage) if usage is not None else None,
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
        "prompt_cache_key": request.prompt_cache_key,
    }


def response_status(stop: StopReason) -> tuple[str, str | None]:
    """The Response ``status`` for a canonical stop reason, with the ``incomplete_details.reason``."""
    if stop == "error":
        return "failed", None
    incomplete = INCOMPLETE_REASONS.get(stop)
    return ("incomplete" if incomplete else "completed"), incomplete


def format_response(response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
    """Render a unified answer as a Response object."""
    status, incomplete = response_status(response.stop_reason)
    error = (
        GatewayError("server_error", "The upstream failed to complete the response.") if status == "failed" else None
    )
    return response_object(
        response.id,
        request,
        response.created,
        status,
        output_items(response.parts, tool_table(request.tools)),
        response.usage,
        incomplete=incomplete,
        error=error,
    )


def format_error(error: GatewayError) -> dict[str, Any]:
    """The OpenAI error body ``{"error": {message, type, param, code}}``, as for Chat."""
    return _chat_error(error)
