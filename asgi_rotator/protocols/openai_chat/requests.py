"""OpenAI Chat Completions client requests: parse a Chat body into a unified request."""

from __future__ import annotations

from typing import Any, Literal

from ... import _json
from ...errors import invalid_request
from .._common import expect, optional, parse_data_url, require
from ..fidelity import source_only
from ..unified import (
    Media,
    Message,
    Part,
    Reasoning,
    ReasoningConfig,
    ResponseFormat,
    Text,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    UnifiedRequest,
)

#: Top-level fields this module understands; on same-protocol paths every other key passes through.
KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "reasoning_effort",
        "user",
        "prompt_cache_key",
        "metadata",
        "store",
    }
)
_TOOL_CHOICE_MODES: dict[str, Literal["auto", "none", "required"]] = {
    "auto": "auto",
    "none": "none",
    "required": "required",
}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def parse_request(body: dict[str, Any], *, model: str | None, stream: bool) -> UnifiedRequest:
    """Parse a Chat Completions body into a unified request."""
    request = UnifiedRequest(
        model=model or require(body, "model", str),
        source_protocol="openai_chat",
        raw=body,
        stream=bool(optional(body, "stream", bool) or stream),
    )
    request.messages = _parse_messages(require(body, "messages", list))
    tools = optional(body, "tools", list)
    if tools is not None:
        request.tools = [_parse_tool(t, i) for i, t in enumerate(tools)]
    functions = optional(body, "functions", list)
    if functions is not None:
        request.tools += [
            _parse_function(expect(f, dict, f"functions[{i}]"), f"functions[{i}]") for i, f in enumerate(functions)
        ]
    request.tool_choice = _parse_tool_choice(body.get("tool_choice", body.get("function_call")))
    request.parallel_tool_calls = optional(body, "parallel_tool_calls", bool)
    request.max_tokens = optional(body, "max_completion_tokens", int) or optional(body, "max_tokens", int)
    request.temperature = optional(body, "temperature", float)
    request.top_p = optional(body, "top_p", float)
    stop = optional(body, "stop", (str, list))
    request.stop = [stop] if isinstance(stop, str) else stop
    request.seed = optional(body, "seed", int)
    request.presence_penalty = optional(body, "presence_penalty", float)
    request.frequency_penalty = optional(body, "frequency_penalty", float)
    request.response_format = _parse_response_format(optional(body, "response_format", dict))
    effort = optional(body, "reasoning_effort", str)
    if effort is not None:
        request.reasoning = ReasoningConfig(effort=effort, enabled=effort != "none")
    stream_options = optional(body, "stream_options", dict) or {}
    request.include_usage = bool(stream_options.get("include_usage"))
    request.user = optional(body, "user", str)
    request.prompt_cache_key = optional(body, "prompt_cache_key", str)
    request.metadata = optional(body, "metadata", dict)
    request.store = optional(body, "store", bool)
    _meaningful_fields(body, request)
    return request


def _meaningful_fields(body: dict[str, Any], request: UnifiedRequest) -> None:
    """Fields only a Chat upstream honours, whose loss would change the answer."""
    n = optional(body, "n", int)
    if n is not None and n > 1:
        source_only(request, "n", f"n={n} asks for {n} choices; other protocols answer with one.")
    if optional(body, "logprobs", bool) or optional(body, "top_logprobs", int):
        source_only(request, "logprobs", "logprobs are given only by an OpenAI Chat upstream.")
    modalities = optional(body, "modalities", list) or []
    if "audio" in modalities or optional(body, "audio", dict) is not None:
        source_only(
            request, "modalities" if "audio" in modalities else "audio", "Audio output needs an OpenAI Chat upstream."
        )
    if optional(body, "web_search_options", dict) is not None:
        source_only(request, "web_search_options", "Web search in Chat runs only at an OpenAI Chat upstream.")


def _parse_messages(raw_messages: list[Any]) -> list[Message]:
    messages: list[Message] = []
    # Legacy function calls carry no id: pair each with the next "function" message of the same name.
    pending_legacy: dict[str, list[str]] = {}
    for i, raw in enumerate(raw_messages):
        where = f"messages[{i}]"
        raw = expect(raw, dict, where)
        role = require(raw, "role", str, f"{where}.")
        if role not in _ROLES:
            raise invalid_request(f"Field '{where}.role' must be one of {', '.join(sorted(_ROLES))}.", param=where)
        name = optional(raw, "name", str, f"{where}.")
        if role == "tool":
            call_id = require(raw, "tool_call_id", str, f"{where}.")
            content = _content_parts(raw.get("content"), f"{where}.content")
            messages.append(Message("tool", [ToolResult(call_id, _result_content(content, where), name=name)]))
            continue
        if role == "function":
            fn_name = require(raw, "name", str, f"{where}.")
            ids = pending_legacy.get(fn_name)
            call_id = ids.pop(0) if ids else f"call_{fn_name}_{i}"
            content = _content_parts(raw.get("content"), f"{where}.content")
            messages.append(Message("tool", [ToolResult(call_id, _result_content(content, where), name=fn_name)]))
            continue
        parts: list[Part] = []
        if role == "assistant":
            reasoning = raw.get("reasoning_content") or raw.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                parts.append(Reasoning(text=reasoning))
        parts += _content_parts(raw.get("content"), f"{where}.content")
        if role == "assistant":
            for j, call in enumerate(optional(raw, "tool_calls", list, f"{where}.") or []):
                parts.append(
                    _parse_tool_call(expect(call, dict, f"{where}.tool_calls[{j}]"), f"{where}.tool_calls[{j}]")
                )
            legacy = optional(raw, "function_call", dict, f"{where}.")
            if legacy is not None:
                fn_name = require(legacy, "name", str, f"{where}.function_call.")
                call_id = f"call_{fn_name}_{i}"
                pending_legacy.setdefault(fn_name, []).append(call_id)
                arguments = optional(legacy, "arguments", str, f"{where}.function_call.") or "{}"
                parts.append(ToolCall(call_id, fn_name, arguments, legacy_function_call=True))
        messages.append(Message(role, parts, name=name))
    return messages


def _content_parts(content: Any, where: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    parts: list[Part] = []
    for j, raw in enumerate(expect(content, list, where)):
        part_where = f"{where}[{j}]"
        raw = expect(raw, dict, part_where)
        kind = require(raw, "type", str, f"{part_where}.")
        if kind in ("text", "input_text", "refusal"):
            parts.append(Text(require(raw, "refusal" if kind == "refusal" else "text", str, f"{part_where}.")))
        elif kind == "image_url":
            image = require(raw, "image_url", (dict, str), f"{part_where}.")
            url = image if isinstance(image, str) else require(image, "url", str, f"{part_where}.image_url.")
            detail = None if isinstance(image, str) else image.get("detail")
            inline = parse_data_url(url)
            if inline is not None:
                parts.append(Media("image", media_type=inline[0], data=inline[1], detail=detail))
            else:
                parts.append(Media("image", url=url, detail=detail))
        elif kind == "input_audio":
            audio = require(raw, "input_audio", dict, f"{part_where}.")
            fmt = optional(audio, "format", str) or "wav"
            parts.append(Media("audio", media_type=f"audio/{fmt}", data=require(audio, "data", str, part_where)))
        elif kind == "file":
            file = require(raw, "file", dict, f"{part_where}.")
            inline = parse_data_url(file["file_data"]) if isinstance(file.get("file_data"), str) else None
            parts.append(
                Media(
                    "document" if inline and inline[0] == "application/pdf" else "file",
                    media_type=inline[0] if inline else None,
                    data=inline[1] if inline else None,
                    file_id=optional(file, "file_id", str),
                    filename=optional(file, "filename", str),
                )
            )
        else:
            raise invalid_request(f"Unsupported content part type {kind!r} in '{part_where}'.", param=part_where)
    return parts


def _result_content(parts: list[Part], where: str) -> list[Text | Media]:
    content: list[Text | Media] = []
    for part in parts:
        if not isinstance(part, Text | Media):
            raise invalid_request(f"Tool results in '{where}' may hold only text and media.", param=where)
        content.append(part)
    return content


def _parse_tool_call(raw: dict[str, Any], where: str) -> ToolCall:
    function = require(raw, "function", dict, f"{where}.")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # tolerated: some clients send objects
        arguments = _json.dumps_str(arguments)
    return ToolCall(
        id=require(raw, "id", str, f"{where}."),
        name=require(function, "name", str, f"{where}.function."),
        arguments=expect(arguments, str, f"{where}.function.arguments") if arguments is not None else "{}",
    )


def _parse_tool(raw: Any, i: int) -> ToolDefinition:
    where = f"tools[{i}]"
    raw = expect(raw, dict, where)
    if raw.get("type", "function") != "function":
        raise invalid_request(
            f"Only function tools are supported ('{where}.type' is {raw.get('type')!r}).", param=where
        )
    return _parse_function(require(raw, "function", dict, f"{where}."), f"{where}.function")


def _parse_function(raw: dict[str, Any], where: str) -> ToolDefinition:
    return ToolDefinition(
        name=require(raw, "name", str, f"{where}."),
        description=optional(raw, "description", str, f"{where}."),
        parameters=optional(raw, "parameters", dict, f"{where}."),
        strict=optional(raw, "strict", bool, f"{where}."),
    )


def _parse_tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        mode = _TOOL_CHOICE_MODES.get(raw)
        if mode is None:
            raise invalid_request(
                "Field 'tool_choice' must be auto, none, required or a function.", param="tool_choice"
            )
        return ToolChoice(mode)
    raw = expect(raw, dict, "tool_choice")
    function = raw.get("function", raw)
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise invalid_request("Field 'tool_choice.function.name' must be a string.", param="tool_choice")
    return ToolChoice("tool", name=name)


def _parse_response_format(raw: dict[str, Any] | None) -> ResponseFormat | None:
    if raw is None:
        return None
    kind = require(raw, "type", str, "response_format.")
    if kind == "json_schema":
        schema = require(raw, "json_schema", dict, "response_format.")
        return ResponseFormat(
            "json_schema",
            schema=optional(schema, "schema", dict, "response_format.json_schema."),
            name=optional(schema, "name", str),
            strict=optional(schema, "strict", bool),
        )
    if kind == "text" or kind == "json_object":
        return ResponseFormat(kind)
    raise invalid_request(f"Unsupported response_format type {kind!r}.", param="response_format.type")
