"""OpenAI Chat Completions answers: parse an upstream body, format a client body, usage and errors."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import GatewayError
from .._common import upstream_invalid
from ..cost import provider_cost
from ..unified import Part, Reasoning, StopReason, Text, ToolCall, UnifiedRequest, UnifiedResponse, Usage

FINISH_TO_STOP: dict[str, StopReason] = {
    "stop": "stop",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}
STOP_TO_FINISH: dict[str, str] = {
    "stop": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "incomplete": "length",
    "error": "stop",
    "unknown": "stop",
}
_ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "context_window_exceeded": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "method_not_allowed": "invalid_request_error",
    "payload_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "quota_exceeded": "insufficient_quota",
}


def parse_usage(raw: Any, body: dict[str, Any] | None = None) -> Usage | None:
    """Canonical usage from a Chat ``usage`` object: cached and cache-write tokens come out of the input."""
    if not isinstance(raw, dict):
        return None
    prompt = _int(raw.get("prompt_tokens"))
    details = raw.get("prompt_tokens_details") or {}
    cache_read = _int(details.get("cached_tokens")) or _int(raw.get("prompt_cache_hit_tokens"))
    cache_write = _int(details.get("cache_write_tokens")) or _int(raw.get("cache_creation_input_tokens"))
    output_details = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=max(prompt - cache_read - cache_write, 0),
        output_tokens=_int(raw.get("completion_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_int(output_details.get("reasoning_tokens")),
        provider_cost_usd=provider_cost(body or {}, raw),
    )


def format_usage(usage: Usage) -> dict[str, Any]:
    """A Chat ``usage`` object from canonical usage."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
    if usage.provider_cost_usd is not None:
        out["cost"] = usage.provider_cost_usd
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_response(body: dict[str, Any]) -> UnifiedResponse:
    """Parse an upstream ``chat.completion`` body."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise upstream_invalid("OpenAI Chat", "no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise upstream_invalid("OpenAI Chat", "choice without a message")
    parts: list[Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Reasoning(text=reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append(Text(content))
    elif isinstance(content, list):
        parts += [Text(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not content:
        parts.append(Text(refusal))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        parts.append(
            ToolCall(
                id=call.get("id") or f"call_{len(parts)}",
                name=function.get("name", ""),
                arguments=arguments if isinstance(arguments, str) else _json.dumps_str(arguments or {}),
            )
        )
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        parts.append(
            ToolCall(
                f"call_{legacy.get('name', '')}",
                legacy.get("name", ""),
                legacy.get("arguments") or "{}",
                legacy_function_call=True,
            )
        )
    finish = choice.get("finish_reason")
    stop: StopReason = FINISH_TO_STOP.get(finish, "unknown") if isinstance(finish, str) else "unknown"
    if any(isinstance(p, ToolCall) for p in parts) and stop == "stop":
        stop = "tool_use"
    return UnifiedResponse(
        id="",
        model=str(body.get("model", "")),
        parts=parts,
        stop_reason=stop,
        native_stop_reason=finish if isinstance(finish, str) else None,
        usage=parse_usage(body.get("usage"), body),
        created=body["created"] if isinstance(body.get("created"), int) else 0,
        upstream_id=body.get("id") if isinstance(body.get("id"), str) else None,
    )


def finish_reason(response_stop: StopReason, request: UnifiedRequest, has_legacy_call: bool) -> str:
    """The Chat ``finish_reason`` for a canonical stop reason."""
    if response_stop == "tool_use" and has_legacy_call:
        return "function_call"
    return STOP_TO_FINISH.get(response_stop, "stop")


def format_response(response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
    """Render a unified answer as a ``chat.completion`` body (all items collapse into one choice)."""
    message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
    reasoning = "".join(p.text for p in response.parts if isinstance(p, Reasoning))
    if reasoning:
        message["reasoning_content"] = reasoning
    calls = response.tool_calls
    legacy = bool(calls) and all(c.legacy_function_call for c in calls) or _wants_legacy(request)
    if calls and legacy:
        message["function_call"] = {"name": calls[0].name, "arguments": calls[0].arguments}
    elif calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ]
    stop = "tool_use" if calls and response.stop_reason == "stop" else response.stop_reason
    out: dict[str, Any] = {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": request.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(stop, request, legacy), "logprobs": None}
        ],
    }
    if response.usage is not None:
        out["usage"] = format_usage(response.usage)
    return out


def _wants_legacy(request: UnifiedRequest) -> bool:
    return request.source_protocol == "openai_chat" and "functions" in request.raw and "tools" not in request.raw


def format_error(error: GatewayError) -> dict[str, Any]:
    """The OpenAI error body: ``{"error": {message, type, param, code}}``."""
    return {
        "error": {
            "message": error.message,
            "type": _ERROR_TYPES.get(error.kind, "api_error"),
            "param": error.param,
            "code": error.kind,
        }
    }
