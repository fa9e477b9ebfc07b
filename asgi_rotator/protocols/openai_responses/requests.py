"""OpenAI Responses requests: parse a client body, build an upstream body."""

from __future__ import annotations

from typing import Any, Literal

from ...errors import invalid_request
from .._common import expect, optional, require
from ..base import NativeRequest
from ..reasoning import effort_for
from ..unified import (
    ConversionWarning,
    Message,
    ReasoningConfig,
    ResponseFormat,
    Text,
    ToolChoice,
    ToolDefinition,
    UnifiedRequest,
)
from .items import build_input, parse_input

#: Top-level fields this module understands; on same-protocol paths every other key passes through.
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


def parse_request(body: dict[str, Any], *, model: str | None, stream: bool) -> UnifiedRequest:
    """Parse a ``POST /v1/responses`` body into a unified request."""
    request = UnifiedRequest(
        model=model or require(body, "model", str),
        source_protocol="openai_responses",
        raw=body,
        stream=bool(optional(body, "stream", bool) or stream),
    )
    instructions = optional(body, "instructions", str)
    if instructions:
        request.messages.append(Message("system", [Text(instructions)]))
    if "input" in body:
        request.messages += parse_input(body["input"])
    tools = optional(body, "tools", list) or []
    for i, tool in enumerate(tools):
        tool = expect(tool, dict, f"tools[{i}]")
        if tool.get("type", "function") == "function":
            request.tools.append(
                ToolDefinition(
                    require(tool, "name", str, f"tools[{i}]."),
                    optional(tool, "description", str),
                    optional(tool, "parameters", dict),
                    optional(tool, "strict", bool),
                )
            )
        else:
            request.warnings.append(
                ConversionWarning(
                    "hosted_tool",
                    f"Hosted tool {tool.get('type')!r} is kept only for Responses upstreams.",
                    f"tools[{i}]",
                    "openai_responses",
                )
            )
    request.tool_choice = _tool_choice(body.get("tool_choice"))
    request.parallel_tool_calls = optional(body, "parallel_tool_calls", bool)
    request.response_format = _format((optional(body, "text", dict) or {}).get("format"))
    reasoning = optional(body, "reasoning", dict)
    if reasoning is not None:
        effort = optional(reasoning, "effort", str, "reasoning.")
        summary = optional(reasoning, "summary", str, "reasoning.")
        request.reasoning = ReasoningConfig(
            effort=effort,
            summary=summary,
            include_thoughts=summary is not None,
            enabled=effort != "none" if effort else None,
        )
    request.max_tokens = optional(body, "max_output_tokens", int)
    request.temperature = optional(body, "temperature", float)
    request.top_p = optional(body, "top_p", float)
    request.user = optional(body, "user", str)
    request.prompt_cache_key = optional(body, "prompt_cache_key", str)
    request.metadata = optional(body, "metadata", dict)
    request.store = optional(body, "store", bool)
    request.previous_response_id = optional(body, "previous_response_id", str)
    return request


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in _MODES:
            raise invalid_request("Field 'tool_choice' must be auto, none, required or a tool.", param="tool_choice")
        return ToolChoice(_MODES[raw])
    raw = expect(raw, dict, "tool_choice")
    if raw.get("type") == "allowed_tools":
        names = [t["name"] for t in raw.get("tools") or () if isinstance(t, dict) and isinstance(t.get("name"), str)]
        mode = _MODES.get(raw.get("mode", "auto"), "auto")
        return ToolChoice(mode, allowed=names)
    return ToolChoice("tool", name=require(raw, "name", str, "tool_choice."))


def _format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    raw = expect(raw, dict, "text.format")
    kind = require(raw, "type", str, "text.format.")
    if kind == "json_schema":
        return ResponseFormat(
            "json_schema",
            schema=optional(raw, "schema", dict),
            name=optional(raw, "name", str),
            strict=optional(raw, "strict", bool),
        )
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "text":
        return ResponseFormat("text")
    raise invalid_request(f"Unsupported text.format type {kind!r}.", param="text.format.type")


def build_request(request: UnifiedRequest, model: str) -> NativeRequest:
    """A ``/responses`` body for ``model``: the whole conversation as input items, stored nowhere upstream."""
    same = request.source_protocol == "openai_responses"
    body: dict[str, Any] = {k: v for k, v in request.raw.items() if k not in KNOWN_FIELDS} if same else {}
    messages = request.messages
    lead = 0
    while lead < len(messages) and messages[lead].role in ("system", "developer"):
        lead += 1
    body["model"] = model
    if lead:
        body["instructions"] = "\n\n".join(m.text for m in messages[:lead])
    body["input"] = build_input(messages[lead:])
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters or {"type": "object", "properties": {}},
            "strict": bool(t.strict),
        }
        for t in request.tools
    ]
    if same:
        tools += [t for t in request.raw.get("tools") or () if isinstance(t, dict) and t.get("type") != "function"]
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = _build_choice(request.tool_choice)
    _set(body, "parallel_tool_calls", request.parallel_tool_calls)
    if request.response_format is not None:
        body["text"] = {"format": _build_format(request.response_format)}
    if request.reasoning is not None:
        reasoning: dict[str, Any] = {}
        effort = "none" if request.reasoning.enabled is False else effort_for(request.reasoning)
        _set(reasoning, "effort", effort)
        _set(
            reasoning, "summary", request.reasoning.summary or ("auto" if request.reasoning.include_thoughts else None)
        )
        body["reasoning"] = reasoning
        # The gateway keeps the state: ask for reasoning in a form it can replay without upstream storage.
        body["include"] = ["reasoning.encrypted_content"]
    _set(body, "max_output_tokens", request.max_tokens)
    _set(body, "temperature", request.temperature)
    _set(body, "top_p", request.top_p)
    _set(body, "user", request.user)
    _set(body, "prompt_cache_key", request.prompt_cache_key)
    if same:
        _set(body, "metadata", request.metadata)
    # History is replayed from the gateway's own store, so the upstream never needs to keep it.
    body["store"] = False
    if request.stream:
        body["stream"] = True
    return NativeRequest("/responses", body, stream=request.stream)


def _set(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _build_choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    if choice.allowed:
        return {
            "type": "allowed_tools",
            "mode": choice.mode,
            "tools": [{"type": "function", "name": name} for name in choice.allowed],
        }
    return choice.mode


def _build_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    out: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        out["strict"] = fmt.strict
    return out
