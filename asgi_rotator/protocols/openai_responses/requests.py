"""OpenAI Responses client requests: parse a ``POST /v1/responses`` body into a unified request."""

from __future__ import annotations

from typing import Any, Literal

from ...errors import invalid_request
from .._common import expect, optional, require
from ..fidelity import dropped_tool, source_only
from ..unified import (
    Message,
    ReasoningConfig,
    ResponseFormat,
    Text,
    ToolChoice,
    ToolDefinition,
    UnifiedRequest,
)
from .client_tools import is_client_executed, parse_tool
from .items import TOOL_ITEMS, parse_input

NAME = "openai_responses"
#: Top-level fields this protocol understands; on same-protocol paths every other key passes through.
KNOWN_FIELDS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "user",
        "prompt_cache_key",
        "metadata",
        "store",
        "previous_response_id",
        "stream",
        "include",
    }
)
_MODES: dict[str, Literal["auto", "none", "required"]] = {"auto": "auto", "none": "none", "required": "required"}
_TOOL_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})


def parse_request(body: dict[str, Any], *, model: str | None, stream: bool) -> UnifiedRequest:
    """Parse a ``POST /v1/responses`` body into a unified request."""
    request = UnifiedRequest(
        model=model or require(body, "model", str),
        source_protocol=NAME,
        raw=body,
        stream=bool(optional(body, "stream", bool) or stream),
    )
    instructions = optional(body, "instructions", str)
    if instructions:
        request.messages.append(Message("system", [Text(instructions)]))
    if body.get("input") is not None:
        request.messages += parse_input(body["input"], request.warnings)
    for i, tool in enumerate(optional(body, "tools", list) or ()):
        request.tools += _tool(expect(tool, dict, f"tools[{i}]"), f"tools[{i}]", request)
    request.tools += _input_tools(body.get("input"), request)
    if optional(body, "background", bool):
        source_only(request, "background", "Only a Responses upstream can run a response in the background.")
    request.tool_choice = _tool_choice(body.get("tool_choice"), request)
    request.parallel_tool_calls = optional(body, "parallel_tool_calls", bool)
    text = optional(body, "text", dict) or {}
    request.response_format = _format(text.get("format"))
    request.reasoning = _reasoning(optional(body, "reasoning", dict))
    request.max_tokens = optional(body, "max_output_tokens", int)
    request.temperature = optional(body, "temperature", float)
    request.top_p = optional(body, "top_p", float)
    request.user = optional(body, "user", str)
    request.prompt_cache_key = optional(body, "prompt_cache_key", str)
    request.metadata = optional(body, "metadata", dict)
    request.store = optional(body, "store", bool)
    request.previous_response_id = optional(body, "previous_response_id", str)
    request.conversation = _conversation(body.get("conversation"))
    for i, entry in enumerate(optional(body, "include", list) or ()):
        expect(entry, str, f"include[{i}]")
    return request


def _conversation(named: Any) -> str | None:
    if isinstance(named, dict):
        named = named.get("id")
    if named is None:
        return None
    return expect(named, str, "conversation") or None


def _tool(raw: dict[str, Any], where: str, request: UnifiedRequest) -> list[ToolDefinition]:
    kind = optional(raw, "type", str, f"{where}.") or "function"
    if is_client_executed(raw):
        return parse_tool(raw, where)
    if kind != "function":
        # Hosted tools (web_search, file_search, mcp ...) run only at a Responses upstream, which gets them back
        # from raw. Offered, the model may do without them (dropped with a warning elsewhere); forced by
        # tool_choice, their loss changes the answer (see _tool_choice).
        dropped_tool(request, where, f"The {kind!r} tool runs only at a Responses upstream; it was dropped.")
        return []
    return [
        ToolDefinition(
            require(raw, "name", str, f"{where}."),
            optional(raw, "description", str, f"{where}."),
            optional(raw, "parameters", dict, f"{where}."),
            optional(raw, "strict", bool, f"{where}."),
            extra={k: v for k, v in raw.items() if k not in _TOOL_KEYS} or None,
        )
    ]


def _input_tools(items: Any, request: UnifiedRequest) -> list[ToolDefinition]:
    """Tools that arrive inside ``input``: Codex's ``additional_tools`` items and what a client-executed
    ``tool_search`` found (``tool_search_output``), so the model can call them."""
    tools: list[ToolDefinition] = []
    if not isinstance(items, list):
        return tools
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") not in (*TOOL_ITEMS, "tool_search_output"):
            continue
        for j, tool in enumerate(optional(item, "tools", list, f"input[{i}].") or ()):
            tools += _tool(expect(tool, dict, f"input[{i}].tools[{j}]"), f"input[{i}].tools[{j}]", request)
    return tools


def _tool_choice(raw: Any, request: UnifiedRequest) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in _MODES:
            raise invalid_request("Field 'tool_choice' must be auto, none, required or a tool.", param="tool_choice")
        return ToolChoice(_MODES[raw])
    raw = expect(raw, dict, "tool_choice")
    kind = require(raw, "type", str, "tool_choice.")
    if kind == "function":
        return ToolChoice("tool", name=require(raw, "name", str, "tool_choice."))
    if kind == "allowed_tools":
        mode = optional(raw, "mode", str, "tool_choice.") or "auto"
        if mode not in ("auto", "required"):
            raise invalid_request("Field 'tool_choice.mode' must be auto or required.", param="tool_choice.mode")
        tools = require(raw, "tools", list, "tool_choice.")
        names = [t["name"] for t in tools if isinstance(t, dict) and t.get("type") == "function" and "name" in t]
        if len(names) < len(tools):
            dropped_tool(request, "tool_choice.tools", "tool_choice allows hosted tools only a Responses upstream has.")
        return ToolChoice(_MODES[mode], allowed=names)
    if kind == "custom":
        return ToolChoice("tool", name=require(raw, "name", str, "tool_choice."))
    # A hosted tool (web_search, file_search, mcp ...) forced by type: replayed from raw for Responses; without
    # it the answer would not be the one asked for.
    source_only(
        request, "tool_choice", f"tool_choice forces the hosted {kind!r} tool; only a Responses upstream has it."
    )
    return None


def _format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    raw = expect(raw, dict, "text.format")
    kind = require(raw, "type", str, "text.format.")
    if kind == "json_schema":
        return ResponseFormat(
            "json_schema",
            schema=require(raw, "schema", dict, "text.format."),
            name=optional(raw, "name", str, "text.format."),
            strict=optional(raw, "strict", bool, "text.format."),
        )
    if kind in ("json_object", "text"):
        return ResponseFormat(kind)
    raise invalid_request(f"Unsupported text.format type {kind!r}.", param="text.format.type")


def _reasoning(raw: dict[str, Any] | None) -> ReasoningConfig | None:
    if raw is None:
        return None
    effort = optional(raw, "effort", str, "reasoning.")
    summary = optional(raw, "summary", str, "reasoning.") or optional(raw, "generate_summary", str, "reasoning.")
    return ReasoningConfig(
        effort=effort,
        summary=summary,
        include_thoughts=summary != "none" if summary is not None else None,
        enabled=effort != "none" if effort is not None else None,
    )
