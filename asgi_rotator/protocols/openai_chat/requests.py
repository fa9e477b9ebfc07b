"""OpenAI Chat Completions requests: parse a client body, build an upstream body."""

from __future__ import annotations

from typing import Any, Literal

from ... import _json
from ...errors import invalid_request
from .._common import data_url, expect, optional, parse_data_url, require
from ..base import NativeRequest
from ..reasoning import effort_for
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
    return request


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


# -- provider role -----------------------------------------------------------------------------------------


def build_request(request: UnifiedRequest, model: str) -> NativeRequest:
    """Build a Chat Completions body for ``model`` from a unified request."""
    body: dict[str, Any] = {}
    if request.source_protocol == "openai_chat":
        body.update((k, v) for k, v in request.raw.items() if k not in KNOWN_FIELDS)
    body["model"] = model
    body["messages"] = [m for message in request.messages for m in _build_message(message)]
    legacy = request.source_protocol == "openai_chat" and "functions" in request.raw and "tools" not in request.raw
    if request.tools:
        if legacy:
            body["functions"] = [_build_function(t) for t in request.tools]
        else:
            body["tools"] = [{"type": "function", "function": _build_function(t)} for t in request.tools]
    if request.tool_choice is not None:
        choice = _build_tool_choice(request.tool_choice)
        body["function_call" if legacy else "tool_choice"] = (
            {"name": request.tool_choice.name} if legacy and request.tool_choice.mode == "tool" else choice
        )
    _set(body, "parallel_tool_calls", request.parallel_tool_calls)
    if request.max_tokens is not None:
        key = "max_completion_tokens" if "max_completion_tokens" in request.raw else "max_tokens"
        body[key] = request.max_tokens
    _set(body, "temperature", request.temperature)
    _set(body, "top_p", request.top_p)
    _set(body, "stop", request.stop)
    _set(body, "seed", request.seed)
    _set(body, "presence_penalty", request.presence_penalty)
    _set(body, "frequency_penalty", request.frequency_penalty)
    if request.response_format is not None:
        body["response_format"] = _build_response_format(request.response_format)
    if request.reasoning is not None:
        effort = "none" if request.reasoning.enabled is False else effort_for(request.reasoning)
        _set(body, "reasoning_effort", effort)
    _set(body, "user", request.user)
    _set(body, "prompt_cache_key", request.prompt_cache_key)
    if request.source_protocol == "openai_chat":
        _set(body, "metadata", request.metadata)
        _set(body, "store", request.store)
    if request.stream:
        # Always ask for usage: the gateway accounts every stream and strips the frame if the client did not ask.
        body["stream"] = True
        body["stream_options"] = {**(request.raw.get("stream_options") or {}), "include_usage": True}
    return NativeRequest("/chat/completions", body, stream=request.stream)


def _set(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _build_message(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [_build_tool_result(part) for part in message.parts if isinstance(part, ToolResult)]
    out: dict[str, Any] = {"role": message.role}
    if message.name:
        out["name"] = message.name
    content: list[dict[str, Any]] = []
    tool_calls: list[ToolCall] = []
    results: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, Media):
            content.append(_build_media(part))
        elif isinstance(part, ToolCall):
            tool_calls.append(part)
        elif isinstance(part, ToolResult):
            # Anthropic and Gemini put results in user turns; Chat needs one tool message per result.
            results.append(_build_tool_result(part))
    if message.role == "assistant":
        out["content"] = "".join(c["text"] for c in content if c["type"] == "text") or None
        if any(call.legacy_function_call for call in tool_calls) and len(tool_calls) == 1:
            call = tool_calls[0]
            out["function_call"] = {"name": call.name, "arguments": call.arguments}
        elif tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in tool_calls
            ]
    elif len(content) == 1 and content[0]["type"] == "text":
        out["content"] = content[0]["text"]
    else:
        out["content"] = content
    if message.role == "user" and not content:
        return results
    return [*results, out]


def _build_media(media: Media) -> dict[str, Any]:
    if media.kind == "image":
        image: dict[str, Any] = {"url": data_url(media)}
        if media.detail:
            image["detail"] = media.detail
        return {"type": "image_url", "image_url": image}
    if media.kind == "audio" and media.data is not None:
        fmt = (media.media_type or "audio/wav").rpartition("/")[2]
        return {"type": "input_audio", "input_audio": {"data": media.data, "format": fmt}}
    file: dict[str, Any] = {}
    if media.file_id:
        file["file_id"] = media.file_id
    elif media.data is not None:
        file["file_data"] = data_url(media)
    else:
        raise invalid_request("OpenAI Chat cannot reference a document by URL; send it inline or as a file id.")
    if media.filename:
        file["filename"] = media.filename
    return {"type": "file", "file": file}


def _build_tool_result(result: ToolResult) -> dict[str, Any]:
    texts: list[str] = []
    for part in result.content:
        if isinstance(part, Media):
            raise invalid_request("OpenAI Chat tool messages cannot carry media; the tool result would be lost.")
        texts.append(part.text)
    text = "".join(texts)
    if result.is_error:
        # Chat has no error flag on tool results: say it in the content rather than lose it.
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": result.tool_call_id, "content": text}


def _build_function(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return function


def _build_tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    if choice.mode == "required" and choice.allowed and len(choice.allowed) == 1:
        return {"type": "function", "function": {"name": choice.allowed[0]}}
    return choice.mode


def _build_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}
