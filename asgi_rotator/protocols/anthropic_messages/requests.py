"""Anthropic Messages client requests (``/v1/messages`` and ``/v1/messages/count_tokens``) into unified ones."""

from __future__ import annotations

from typing import Any, Literal

from ...errors import invalid_request
from .._common import expect, optional, require
from ..fidelity import dropped_tool, source_only
from ..reasoning import EFFORT_BUDGETS
from ..unified import (
    Message,
    ReasoningConfig,
    ResponseFormat,
    Role,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    UnifiedRequest,
)
from .content import parse_content

NAME = "anthropic_messages"
#: Top-level fields this package understands; on same-protocol paths every other key passes through.
KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stream",
        "tools",
        "tool_choice",
        "thinking",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "output_config",
        "output_format",
    }
)
_TOOL_KEYS = frozenset({"name", "description", "input_schema", "strict"})
#: Client (custom) tools; every other ``type`` is a server tool with no unified form.
CUSTOM_TOOL_TYPES = (None, "custom")
_CHOICE_MODES: dict[str, Literal["auto", "required", "tool", "none"]] = {
    "auto": "auto",
    "any": "required",
    "tool": "tool",
    "none": "none",
}
_THINKING_TYPES = frozenset({"enabled", "disabled", "adaptive", "between_tools"})


def parse_request(body: dict[str, Any], *, model: str | None, operation: str, stream: bool) -> UnifiedRequest:
    """Parse a Messages body; ``max_tokens`` is required except for token counting."""
    request = UnifiedRequest(
        model=model or require(body, "model", str),
        operation=operation,
        source_protocol=NAME,
        raw=body,
        stream=bool(optional(body, "stream", bool) or stream) and operation != "count_tokens",
    )
    if operation == "count_tokens":
        request.max_tokens = optional(body, "max_tokens", int)
    else:
        request.max_tokens = require(body, "max_tokens", int)
    system = _parse_system(body.get("system"))
    request.messages = ([system] if system else []) + _parse_messages(require(body, "messages", list))
    tools = optional(body, "tools", list)
    if tools is not None:
        parsed = (_parse_tool(expect(t, dict, f"tools[{i}]"), f"tools[{i}]", request) for i, t in enumerate(tools))
        request.tools = [t for t in parsed if t is not None]
    choice = optional(body, "tool_choice", dict)
    if choice is not None:
        request.tool_choice, request.parallel_tool_calls = _parse_tool_choice(choice)
        _forced_server_tool(request, tools or [])
    request.stop = optional(body, "stop_sequences", list)
    for i, sequence in enumerate(request.stop or ()):
        expect(sequence, str, f"stop_sequences[{i}]")
    request.temperature = optional(body, "temperature", float)
    request.top_p = optional(body, "top_p", float)
    request.top_k = optional(body, "top_k", int)
    metadata = optional(body, "metadata", dict)
    if metadata is not None:
        request.metadata = metadata
        request.user = optional(metadata, "user_id", str, "metadata.")
    output_config = optional(body, "output_config", dict) or {}
    request.reasoning = _parse_thinking(optional(body, "thinking", dict), output_config)
    request.response_format = _parse_format(
        optional(output_config, "format", dict, "output_config."), "output_config.format"
    ) or _parse_format(optional(body, "output_format", dict), "output_format")
    return request


def _parse_system(raw: Any) -> Message | None:
    if raw is None:
        return None
    parts = parse_content(raw, "system", "system")
    return Message("system", parts) if parts else None


def _parse_messages(raw_messages: list[Any]) -> list[Message]:
    messages: list[Message] = []
    for i, raw in enumerate(raw_messages):
        where = f"messages[{i}]"
        raw = expect(raw, dict, where)
        role = require(raw, "role", str, f"{where}.")
        if role not in ("user", "assistant", "system"):
            raise invalid_request(f"Field '{where}.role' must be user, assistant or system.", param=f"{where}.role")
        parts = parse_content(require(raw, "content", (str, list), f"{where}."), f"{where}.content", role)
        if role != "user":
            messages.append(Message("assistant" if role == "assistant" else "system", parts))
            continue
        # tool_result blocks become "tool" turns (the unified form of results), the rest stays a user turn.
        turns: list[Message] = []
        for part in parts:
            turn: Role = "tool" if isinstance(part, ToolResult) else "user"
            if turns and turns[-1].role == turn:
                turns[-1].parts.append(part)
            else:
                turns.append(Message(turn, [part]))
        messages += turns or [Message("user", [])]
    return messages


def _parse_tool(raw: dict[str, Any], where: str, request: UnifiedRequest) -> ToolDefinition | None:
    if raw.get("type") not in CUSTOM_TOOL_TYPES:
        # A server tool (web search, code execution ...): replayed from raw on same-protocol paths.
        dropped_tool(
            request, where, f"The server tool {raw.get('type')!r} runs only at an Anthropic upstream; it was dropped."
        )
        return None
    extra = {k: v for k, v in raw.items() if k not in _TOOL_KEYS}
    return ToolDefinition(
        name=require(raw, "name", str, f"{where}."),
        description=optional(raw, "description", str, f"{where}."),
        parameters=require(raw, "input_schema", dict, f"{where}."),
        strict=optional(raw, "strict", bool, f"{where}."),
        extra=extra or None,
    )


def _forced_server_tool(request: UnifiedRequest, tools: list[Any]) -> None:
    """A tool_choice naming a server tool: without that tool the answer is not the one asked for."""
    choice = request.tool_choice
    if choice is None or choice.mode != "tool" or any(t.name == choice.name for t in request.tools):
        return
    if any(isinstance(t, dict) and t.get("name") == choice.name for t in tools):
        source_only(
            request,
            "tool_choice",
            f"tool_choice forces the server tool {choice.name!r}; only an Anthropic upstream runs it.",
        )


def _parse_tool_choice(raw: dict[str, Any]) -> tuple[ToolChoice, bool | None]:
    kind = require(raw, "type", str, "tool_choice.")
    mode = _CHOICE_MODES.get(kind)
    if mode is None:
        raise invalid_request("Field 'tool_choice.type' must be auto, any, tool or none.", param="tool_choice.type")
    name = require(raw, "name", str, "tool_choice.") if mode == "tool" else None
    disable = optional(raw, "disable_parallel_tool_use", bool, "tool_choice.")
    return ToolChoice(mode, name=name), None if disable is None else not disable


def _parse_thinking(raw: dict[str, Any] | None, output_config: dict[str, Any]) -> ReasoningConfig | None:
    effort = optional(output_config, "effort", str, "output_config.")
    if raw is None and effort is None:
        return None
    config = ReasoningConfig()
    if effort is not None:
        # xhigh and max are above the shared table's top level; "high" is the closest level it knows.
        config.effort = effort if effort in EFFORT_BUDGETS else "high"
    if raw is None:
        return config
    kind = require(raw, "type", str, "thinking.")
    if kind not in _THINKING_TYPES:
        raise invalid_request(
            "Field 'thinking.type' must be enabled, disabled, adaptive or between_tools.", param="thinking.type"
        )
    config.enabled = kind in ("enabled", "adaptive")
    if kind == "enabled":
        config.budget_tokens = require(raw, "budget_tokens", int, "thinking.")
    display = optional(raw, "display", str, "thinking.")
    if display is not None:
        config.include_thoughts = display != "omitted"
    return config


def _parse_format(raw: dict[str, Any] | None, where: str) -> ResponseFormat | None:
    if raw is None:
        return None
    if require(raw, "type", str, f"{where}.") != "json_schema":
        raise invalid_request(f"Field '{where}.type' must be json_schema.", param=f"{where}.type")
    return ResponseFormat("json_schema", schema=require(raw, "schema", dict, f"{where}."), strict=True)
