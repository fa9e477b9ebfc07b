"""Anthropic Messages answers: parse an upstream ``message``, format one for a client, usage, stop reasons, errors."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import GatewayError, UpstreamError
from .._common import upstream_invalid
from ..cost import provider_cost
from ..unified import Part, Reasoning, StopReason, Text, ToolCall, UnifiedRequest, UnifiedResponse, Usage
from .content import FAMILY

STOP_TO_CANONICAL: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "tool_use": "tool_use",
    "refusal": "content_filter",
    "pause_turn": "incomplete",
}
CANONICAL_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "content_filter": "refusal",
    "incomplete": "max_tokens",
    "error": "end_turn",
    "unknown": "end_turn",
}
_ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "context_window_exceeded": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "payload_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "quota_exceeded": "rate_limit_error",
    "timeout": "timeout_error",
    "no_credentials": "overloaded_error",
}
NAME = "Anthropic Messages"


def stop_reason(native: Any, has_tool_call: bool) -> StopReason:
    """The canonical stop reason for an Anthropic ``stop_reason``."""
    stop: StopReason = STOP_TO_CANONICAL.get(native, "unknown") if isinstance(native, str) else "unknown"
    return "tool_use" if stop == "stop" and has_tool_call else stop


def native_stop(stop: StopReason, native: str | None, has_tool_call: bool) -> str:
    """The Anthropic ``stop_reason`` for a canonical one; an Anthropic native reason that maps back is kept."""
    if stop == "stop" and has_tool_call:
        stop = "tool_use"
    if native is not None and STOP_TO_CANONICAL.get(native) == stop:
        return native  # stop_sequence, pause_turn, model_context_window_exceeded survive a same-family trip
    return CANONICAL_TO_STOP.get(stop, "end_turn")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(raw: Any, body: dict[str, Any] | None = None) -> Usage | None:
    """Canonical usage: Anthropic's ``input_tokens`` already excludes cache reads and writes."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("output_tokens_details")
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
        cache_write_tokens=_int(raw.get("cache_creation_input_tokens")),
        reasoning_tokens=_int(details.get("thinking_tokens")) if isinstance(details, dict) else 0,
        provider_cost_usd=provider_cost(body or {}, raw),
    )


def format_usage(usage: Usage | None) -> dict[str, Any]:
    """An Anthropic ``usage`` object (zeros when no usage is known: the field is required)."""
    usage = usage or Usage()
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def output_part(raw: Any) -> Part | None:
    """One content block of an answer, or None for blocks with no unified form (server tool results ...)."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind == "text" and isinstance(raw.get("text"), str):
        return Text(raw["text"])
    if kind == "thinking":
        signature = raw.get("signature") if isinstance(raw.get("signature"), str) and raw["signature"] else None
        thinking = raw.get("thinking")
        return Reasoning(
            thinking if isinstance(thinking, str) else "",
            signature=signature,
            signature_family=FAMILY if signature else None,
        )
    if kind == "redacted_thinking" and isinstance(raw.get("data"), str):
        return Reasoning(redacted=raw["data"], signature_family=FAMILY)
    if kind == "tool_use":
        if not isinstance(raw.get("id"), str) or not isinstance(raw.get("name"), str):
            raise upstream_invalid(NAME, "a tool_use block without id or name")
        tool_input = raw.get("input")
        return ToolCall(raw["id"], raw["name"], _json.dumps_str(tool_input if isinstance(tool_input, dict) else {}))
    return None


def parse_response(body: dict[str, Any]) -> UnifiedResponse:
    """Parse an upstream ``message`` body."""
    content = body.get("content")
    if body.get("type") != "message" or not isinstance(content, list):
        raise upstream_invalid(NAME, "not a message with content")
    parts = [p for p in map(output_part, content) if p is not None]
    native = body.get("stop_reason")
    upstream_id = body.get("id")
    return UnifiedResponse(
        id="",
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop_reason(native, any(isinstance(p, ToolCall) for p in parts)),
        native_stop_reason=native if isinstance(native, str) else None,
        usage=parse_usage(body.get("usage"), body),
        upstream_id=upstream_id if isinstance(upstream_id, str) else None,
    )


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as the object ``tool_use.input`` carries; anything else is an invalid answer."""
    if not arguments.strip():
        return {}
    try:
        value = _json.loads(arguments)
    except _json.JSONDecodeError:
        raise upstream_invalid("tool call", "the arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise upstream_invalid("tool call", "the arguments are not a JSON object")
    return value


def format_block(part: Part) -> dict[str, Any] | None:
    """A client-facing content block. Signatures and redacted data only when Anthropic minted them.

    Another family's reasoning text is shown as a ``thinking`` block with an empty signature: the client
    sees it, and the gateway drops it again (unsigned) before it could reach an Anthropic upstream.
    """
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Reasoning):
        own = part.signature_family == FAMILY
        if own and part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        signature = part.signature if own and part.signature else ""
        return {"type": "thinking", "thinking": part.text, "signature": signature} if part.text or signature else None
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": tool_input(part.arguments)}
    return None  # media an upstream generated has no place in an Anthropic answer


def format_response(response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
    """Render a unified answer as an Anthropic ``message`` body."""
    content = [b for b in map(format_block, response.parts) if b is not None]
    has_tool = any(b["type"] == "tool_use" for b in content)
    return {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": native_stop(response.stop_reason, response.native_stop_reason, has_tool),
        "stop_sequence": None,
        "usage": format_usage(response.usage),
    }


def error_type(error: GatewayError) -> str:
    """The Anthropic error ``type`` for a gateway error."""
    overloaded = error.status == 529 or (isinstance(error, UpstreamError) and error.upstream_status == 529)
    if overloaded or error.details.get("native_type") == "overloaded_error":
        return "overloaded_error"
    return _ERROR_TYPES.get(error.kind, "api_error")


def format_error(error: GatewayError) -> dict[str, Any]:
    """The Anthropic error body ``{"type": "error", "error": {type, message}}``."""
    return {"type": "error", "error": {"type": error_type(error), "message": error.message}}


def parse_count_tokens(body: Any) -> int:
    """``input_tokens`` from a ``count_tokens`` answer."""
    count = body.get("input_tokens") if isinstance(body, dict) else None
    if not isinstance(count, int) or isinstance(count, bool):
        raise upstream_invalid(NAME, "count_tokens answered without input_tokens")
    return count
