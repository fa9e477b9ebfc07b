"""Anthropic upstream requests: ``/v1/messages`` and ``/v1/messages/count_tokens``."""

from __future__ import annotations

from typing import Any

from ...errors import invalid_request
from .._common import without_foreign_opaque
from ..base import NativeRequest
from ..reasoning import ANTHROPIC_MIN_BUDGET, anthropic_budget, budget_for
from ..unified import (
    ConversionWarning,
    Media,
    Message,
    Opaque,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolDefinition,
    ToolResult,
    UnifiedRequest,
)
from .content import build_media, build_reasoning, build_text, build_tool_result, build_tool_use
from .requests import CUSTOM_TOOL_TYPES, KNOWN_FIELDS, NAME

ANTHROPIC_VERSION = "2023-06-01"
#: Used when the client's protocol has no max_tokens (Anthropic requires one).
DEFAULT_MAX_TOKENS = 4096
#: Fields /v1/messages/count_tokens does not take.
_NOT_COUNTED = ("max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata", "service_tier")


def build_request(request: UnifiedRequest, model: str) -> NativeRequest:
    """The upstream ``/v1/messages`` request for ``model``."""
    body = build_body(request, model)
    if request.stream:
        body["stream"] = True
    return NativeRequest("/v1/messages", body, headers={"anthropic-version": ANTHROPIC_VERSION}, stream=request.stream)


def build_count_tokens(request: UnifiedRequest, model: str) -> NativeRequest:
    """The upstream ``/v1/messages/count_tokens`` request: the same body without generation-only fields."""
    body = build_body(request, model)
    for key in _NOT_COUNTED:
        body.pop(key, None)
    return NativeRequest("/v1/messages/count_tokens", body, headers={"anthropic-version": ANTHROPIC_VERSION})


def build_body(request: UnifiedRequest, model: str) -> dict[str, Any]:
    """A Messages body from a unified request."""
    same = request.source_protocol == NAME
    raw = request.raw if same else {}
    body: dict[str, Any] = {k: v for k, v in raw.items() if k not in KNOWN_FIELDS}
    body["model"] = model
    system, messages = build_messages(request, same)
    if system:
        body["system"] = system
    body["messages"] = messages
    tools = _build_tools(request, same)
    if tools:
        body["tools"] = tools
        choice = _build_tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    thinking = _build_thinking(request, same, body)
    _build_sampling(request, same, thinking, body)
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    metadata = dict(raw.get("metadata") or {})
    if request.user is not None:
        metadata["user_id"] = request.user
    if metadata:
        body["metadata"] = metadata
    _build_format(request, same, body)
    return body


def build_messages(request: UnifiedRequest, same: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``system`` blocks and strictly alternating turns.

    System and developer messages collapse into ``system``, except that an Anthropic client's own
    mid-conversation ``system`` message keeps its place; tool results become user-turn
    ``tool_result`` blocks (first in their turn, as Anthropic requires); consecutive same-role turns merge.
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(without_foreign_opaque(request, NAME)):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            blocks = []
            for part in message.parts:
                if not isinstance(part, Text):
                    raise invalid_request("Anthropic Messages takes only text in system instructions.", param=where)
                if part.text:
                    blocks.append(build_text(part, same))
            if same and turns:
                # Claude Code's mid-conversation system message (beta mid-conversation-system) keeps its place.
                turns.append({"role": "system", "content": blocks})
            else:
                system += blocks
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(request, message, same, where)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        content = turn["content"]
        if turn["role"] == "user":
            content.sort(key=lambda block: block["type"] != "tool_result")
        if len(content) == 1 and content[0].keys() == {"type", "text"}:
            turn["content"] = content[0]["text"]
    return system, turns


def _blocks(request: UnifiedRequest, message: Message, same: bool, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    assistant = message.role == "assistant"
    for j, part in enumerate(message.parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, Text):
            if part.text:  # Anthropic rejects empty text blocks
                blocks.append(build_text(part, same))
        elif isinstance(part, Media):
            if assistant:
                _warn(request, at, "Anthropic assistant turns cannot hold media; the generated media was dropped.")
            else:
                blocks.append(build_media(part, same, at))
        elif isinstance(part, Reasoning):
            block = build_reasoning(part) if assistant else None
            if block is not None:
                blocks.append(block)
        elif isinstance(part, ToolCall):
            blocks.append(build_tool_use(part, same, at))
        elif isinstance(part, ToolResult):
            blocks.append(build_tool_result(part, same, at))
        elif isinstance(part, Opaque):
            blocks.append(part.data)  # only this protocol's own blocks get here (see without_foreign_opaque)
    return blocks


def _build_tools(request: UnifiedRequest, same: bool) -> list[dict[str, Any]]:
    choice = request.tool_choice
    allowed = set(choice.allowed) if choice is not None and choice.allowed else None
    # An allowed-tools restriction has no Anthropic form: only the allowed tools are offered.
    pending = {t.name: t for t in request.tools if allowed is None or t.name in allowed}
    tools: list[dict[str, Any]] = []
    if same:
        # The client's order (prompt caching is prefix-based), with server tools replayed verbatim.
        for raw in request.raw.get("tools") or ():
            if isinstance(raw, dict) and raw.get("type") not in CUSTOM_TOOL_TYPES:
                tools.append(raw)
            elif isinstance(raw, dict) and raw.get("name") in pending:
                tools.append(_build_tool(pending.pop(raw["name"]), same))
    tools += [_build_tool(t, same) for t in pending.values()]
    return tools


def _build_tool(tool: ToolDefinition, same: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    if tool.strict:
        out["strict"] = True
    if same and tool.extra:
        out.update((k, v) for k, v in tool.extra.items() if k not in out)
    return out


def _build_tool_choice(request: UnifiedRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    disable = request.parallel_tool_calls is False
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True} if disable else None
    if choice.mode == "none":
        return {"type": "none"}
    out: dict[str, Any]
    if choice.mode == "tool":
        out = {"type": "tool", "name": choice.name}
    elif choice.mode == "required":
        one = choice.allowed[0] if choice.allowed and len(choice.allowed) == 1 else None
        out = {"type": "tool", "name": one} if one else {"type": "any"}
    else:
        out = {"type": "auto"}
    if disable:
        out["disable_parallel_tool_use"] = True
    return out


def _build_thinking(request: UnifiedRequest, same: bool, body: dict[str, Any]) -> bool:
    """Set ``thinking`` and ``max_tokens``; True when thinking is on."""
    max_tokens = request.max_tokens
    raw_thinking = request.raw.get("thinking") if same else None
    if isinstance(raw_thinking, dict):
        # Adaptive, display and between_tools have no unified form: the client's own config goes back as sent.
        body["thinking"] = raw_thinking
        body["max_tokens"] = max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS
        return raw_thinking.get("type") in ("enabled", "adaptive")
    config = request.reasoning
    if config is not None and config.enabled is False:
        body["thinking"] = {"type": "disabled"}
    elif config is not None and (config.enabled or budget_for(config) is not None):
        if config.budget_tokens is None and config.effort is None:
            config = ReasoningConfig(effort="medium")
        choice = request.tool_choice
        if choice is not None and choice.mode in ("required", "tool"):
            _warn(request, "reasoning", "Anthropic cannot think while a tool use is forced; thinking was turned off.")
        else:
            if max_tokens is None:
                max_tokens = max(budget_for(config) or 0, ANTHROPIC_MIN_BUDGET) + DEFAULT_MAX_TOKENS
            budget = anthropic_budget(config, max_tokens)
            if budget is not None:
                body["thinking"] = {"type": "enabled", "budget_tokens": budget}
            else:
                _warn(request, "reasoning", f"max_tokens {max_tokens} leaves no room for Anthropic thinking.")
    body["max_tokens"] = max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS
    return "thinking" in body and body["thinking"]["type"] == "enabled"


def _build_sampling(request: UnifiedRequest, same: bool, thinking: bool, body: dict[str, Any]) -> None:
    temperature, top_p, top_k = request.temperature, request.top_p, request.top_k
    if not same:
        if thinking and temperature is not None and temperature != 1:
            _warn(request, "temperature", "Anthropic thinking requires the default temperature; it was dropped.")
            temperature = None
        if temperature is not None and temperature > 1:
            _warn(request, "temperature", "Anthropic temperature is at most 1; it was lowered to 1.")
            temperature = 1.0
        if thinking and top_p is not None and top_p < 0.95:
            _warn(request, "top_p", "Anthropic thinking requires top_p of at least 0.95; it was dropped.")
            top_p = None
        if temperature is not None and top_p is not None:
            # Current Claude models reject both together; temperature is the one clients mean.
            _warn(request, "top_p", "Anthropic takes temperature or top_p, not both; top_p was dropped.")
            top_p = None
        if thinking and top_k is not None:
            _warn(request, "top_k", "Anthropic thinking does not allow top_k; it was dropped.")
            top_k = None
        for field, value in (
            ("seed", request.seed),
            ("presence_penalty", request.presence_penalty),
            ("frequency_penalty", request.frequency_penalty),
        ):
            if value is not None:
                _warn(request, field, f"Anthropic Messages has no {field}; it was dropped.")
    for key, value in (("temperature", temperature), ("top_p", top_p), ("top_k", top_k)):
        if value is not None:
            body[key] = value


def _build_format(request: UnifiedRequest, same: bool, body: dict[str, Any]) -> None:
    raw = request.raw
    if same and (isinstance(raw.get("output_config"), dict) or isinstance(raw.get("output_format"), dict)):
        # Effort levels beyond the shared table (xhigh, max) survive only verbatim.
        body.update((k, raw[k]) for k in ("output_config", "output_format") if isinstance(raw.get(k), dict))
        return
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_schema" and fmt.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
        return
    # JSON mode without a schema has no Anthropic form; the prompt must already ask for JSON.
    _warn(request, "response_format", "Anthropic has no JSON mode without a schema; response_format was dropped.")


def _warn(request: UnifiedRequest, field: str, message: str) -> None:
    request.warnings.append(
        ConversionWarning(
            "dropped_field", message, field=field, source_protocol=request.source_protocol, target_protocol=NAME
        )
    )
