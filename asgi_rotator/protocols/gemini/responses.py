"""Gemini answers: parse an upstream ``GenerateContentResponse``, format one for a client, usage and errors."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import new_id, upstream_invalid
from ..cost import provider_cost
from ..unified import Family, Media, Part, Reasoning, StopReason, Text, ToolCall, UnifiedRequest, UnifiedResponse, Usage
from .contents import FAMILY, build_media, media_kind
from .fields import get

FINISH_TO_STOP: dict[str, StopReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "OTHER": "error",
    "LANGUAGE": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
    "IMAGE_OTHER": "error",
    "NO_IMAGE": "error",
    "FINISH_REASON_UNSPECIFIED": "unknown",
}
STOP_TO_FINISH: dict[str, str] = {
    "stop": "STOP",
    "tool_use": "STOP",
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "error": "OTHER",
    "incomplete": "MAX_TOKENS",
    "unknown": "STOP",
}
_STATUS = {
    "invalid_request": "INVALID_ARGUMENT",
    "context_window_exceeded": "INVALID_ARGUMENT",
    "payload_too_large": "INVALID_ARGUMENT",
    "method_not_allowed": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "quota_exceeded": "RESOURCE_EXHAUSTED",
    "timeout": "DEADLINE_EXCEEDED",
    "server_error": "UNAVAILABLE",
    "api_connection": "UNAVAILABLE",
    "no_credentials": "UNAVAILABLE",
    "cancelled": "CANCELLED",
}


def stop_reason(finish: Any, has_tool_call: bool) -> StopReason:
    """The canonical stop reason; a STOP whose answer holds function calls is ``tool_use``."""
    stop: StopReason = FINISH_TO_STOP.get(finish, "unknown") if isinstance(finish, str) else "unknown"
    return "tool_use" if stop == "stop" and has_tool_call else stop


def parse_usage(raw: Any, body: dict[str, Any] | None = None) -> Usage | None:
    """Canonical usage from ``usageMetadata``: ``promptTokenCount`` includes the cached tokens, and
    ``candidatesTokenCount`` excludes the thoughts."""
    if not isinstance(raw, dict):
        return None
    prompt, cached = _int(get(raw, "promptTokenCount")), _int(get(raw, "cachedContentTokenCount"))
    thoughts = _int(get(raw, "thoughtsTokenCount"))
    return Usage(
        # Tool-use prompt tokens (e.g. search results fed back to the model) are billed as input.
        input_tokens=max(prompt - cached, 0) + _int(get(raw, "toolUsePromptTokenCount")),
        output_tokens=_int(get(raw, "candidatesTokenCount")) + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
        provider_cost_usd=provider_cost(body or {}, raw),
    )


def format_usage(usage: Usage) -> dict[str, Any]:
    """``usageMetadata`` from canonical usage (cache writes count as prompt tokens: Gemini has no such field)."""
    out: dict[str, Any] = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.total_tokens,
    }
    if usage.cache_read_tokens:
        out["cachedContentTokenCount"] = usage.cache_read_tokens
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def output_part(raw: Any) -> Part | None:
    """One part of an upstream answer, or None for kinds with no unified form (code execution ...)."""
    if not isinstance(raw, dict):
        return None
    signature = get(raw, "thoughtSignature")
    signature = signature if isinstance(signature, str) and signature else None
    family: Family | None = FAMILY if signature else None
    call = get(raw, "functionCall")
    if isinstance(call, dict):
        args = call.get("args")
        return ToolCall(
            call.get("id") or new_id("call_"),
            str(call.get("name") or ""),
            _json.dumps_str(args if isinstance(args, dict) else {}),
            signature=signature,
            signature_family=family,
        )
    text = raw.get("text")
    if raw.get("thought") is True:
        thought = text if isinstance(text, str) else ""
        return Reasoning(thought, signature=signature, signature_family=family) if thought or signature else None
    if isinstance(text, str):
        return Text(text, signature=signature, signature_family=family) if text or signature else None
    blob = get(raw, "inlineData")
    if isinstance(blob, dict) and isinstance(blob.get("data"), str):
        mime = get(blob, "mimeType")
        return Media(media_kind(mime), media_type=mime, data=blob["data"])
    # A bare signature part closes a streamed answer.
    return Text("", signature=signature, signature_family=family) if signature else None


def parse_response(body: dict[str, Any]) -> UnifiedResponse:
    """Parse an upstream ``GenerateContentResponse`` (the first candidate)."""
    candidates = body.get("candidates")
    feedback = body.get("promptFeedback")
    block = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if not candidates and isinstance(block, str):
        # The prompt itself was blocked: no candidate, and that is the answer.
        return _response(body, [], "content_filter", block)
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        raise upstream_invalid("Gemini", "no candidates")
    candidate = candidates[0]
    content = candidate.get("content")
    raw_parts = content.get("parts") if isinstance(content, dict) else None
    parts = [p for p in map(output_part, raw_parts if isinstance(raw_parts, list) else []) if p is not None]
    finish = candidate.get("finishReason")
    stop = stop_reason(finish, any(isinstance(p, ToolCall) for p in parts))
    return _response(body, parts, stop, finish if isinstance(finish, str) else None)


def _response(body: dict[str, Any], parts: list[Part], stop: StopReason, native: str | None) -> UnifiedResponse:
    upstream_id = body.get("responseId")
    return UnifiedResponse(
        id="",
        model=str(body.get("modelVersion") or ""),
        parts=parts,
        stop_reason=stop,
        native_stop_reason=native,
        usage=parse_usage(body.get("usageMetadata"), body),
        upstream_id=upstream_id if isinstance(upstream_id, str) else None,
    )


def format_part(part: Part) -> dict[str, Any] | None:
    """A client-facing part; signatures only when Gemini minted them, other families' state never."""
    out: dict[str, Any]
    if isinstance(part, Reasoning):
        own = part.signature_family == FAMILY and bool(part.signature)
        if not part.text and not own:
            return None
        out = {"text": part.text, "thought": True}
    elif isinstance(part, Text):
        if not part.text and part.signature_family != FAMILY:
            return None
        out = {"text": part.text}
    elif isinstance(part, ToolCall):
        out = {"functionCall": {"id": part.id, "name": part.name, "args": call_args(part.arguments)}}
    elif isinstance(part, Media):
        try:
            return build_media(part, "output")
        except GatewayError:
            return None  # generated media Gemini cannot carry (a bare file id) is left out
    else:
        return None
    if part.signature and part.signature_family == FAMILY:
        out["thoughtSignature"] = part.signature
    return out


def call_args(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as the object Gemini carries; anything else is an invalid upstream answer."""
    if not arguments.strip():
        return {}
    try:
        value = _json.loads(arguments)
    except _json.JSONDecodeError:
        raise upstream_invalid("tool call", "the arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise upstream_invalid("tool call", "the arguments are not a JSON object")
    return value


def format_response(response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
    """Render a unified answer as a ``GenerateContentResponse`` with one candidate."""
    parts = [p for p in map(format_part, response.parts) if p is not None]
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = parts
    out: dict[str, Any] = {
        "candidates": [
            {"content": content, "finishReason": STOP_TO_FINISH.get(response.stop_reason, "STOP"), "index": 0}
        ],
        "modelVersion": request.model,
        "responseId": response.id,
    }
    if response.usage is not None:
        out["usageMetadata"] = format_usage(response.usage)
    return out


def format_error(error: GatewayError) -> dict[str, Any]:
    """The Google error body ``{"error": {code, message, status}}``, with RetryInfo when a retry may help."""
    body: dict[str, Any] = {
        "code": error.status,
        "message": error.message,
        "status": _STATUS.get(error.kind, "INTERNAL"),
    }
    details: list[dict[str, Any]] = []
    if error.retry_after is not None:
        delay = f"{error.retry_after:.3f}".rstrip("0").rstrip(".")
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"})
    if error.param:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": error.param, "description": error.message}],
            }
        )
    if details:
        body["details"] = details
    return {"error": body}


def parse_count_tokens(body: Any) -> int:
    """``totalTokens`` from a ``countTokens`` answer (proto3 JSON omits it when it is zero)."""
    total = body.get("totalTokens", 0) if isinstance(body, dict) else None
    if not isinstance(total, int) or isinstance(total, bool):
        raise upstream_invalid("Gemini", "countTokens answered without totalTokens")
    return total
