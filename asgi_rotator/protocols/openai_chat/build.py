"""OpenAI Chat Completions upstream requests: build a Chat body from a unified request."""

from __future__ import annotations

from typing import Any

from ...errors import invalid_request
from .._common import data_url, without_foreign_opaque
from ..base import NativeRequest
from ..reasoning import effort_for, takes_effort
from ..unified import (
    ConversionWarning,
    Media,
    Message,
    ResponseFormat,
    Text,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    UnifiedRequest,
)
from .requests import KNOWN_FIELDS


def build_request(request: UnifiedRequest, model: str) -> NativeRequest:
    """Build a Chat Completions body for ``model`` from a unified request."""
    body: dict[str, Any] = {}
    same = request.source_protocol == "openai_chat"
    if same:
        body.update((k, v) for k, v in request.raw.items() if k not in KNOWN_FIELDS)
    body["model"] = model
    messages = without_foreign_opaque(request, "openai_chat")
    body["messages"] = [m for message in messages for m in _build_message(message)]
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
    if request.reasoning is not None and (same or takes_effort(model)):
        effort = "none" if request.reasoning.enabled is False else effort_for(request.reasoning)
        _set(body, "reasoning_effort", effort)
    elif request.reasoning is not None and request.reasoning.enabled is not False:
        request.warnings.append(
            ConversionWarning(
                "dropped_field",
                f"{model} is not an OpenAI reasoning model; the thinking setting was dropped.",
                "reasoning",
                request.source_protocol,
                target_protocol="openai_chat",
            )
        )
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
