"""OpenAI Responses upstream requests: build a ``/responses`` body from a unified request.

The gateway keeps conversation state itself (``previous_response_id`` is expanded before this runs), so
the whole conversation always goes out as input items and is never chained upstream by id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._common import without_foreign_opaque
from ..base import NativeRequest
from ..reasoning import effort_for, is_disabled, takes_effort
from ..unified import (
    ConversionWarning,
    Media,
    Message,
    Opaque,
    Part,
    Reasoning,
    ResponseFormat,
    Text,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    UnifiedRequest,
)
from .client_tools import native_call_item
from .items import TOOL_ITEMS, function_output_item, media_item, with_extra
from .requests import KNOWN_FIELDS, NAME

Warn = Callable[[str, str], None]
ENCRYPTED_REASONING = "reasoning.encrypted_content"
#: Unified tuning the Responses API has no field for.
_UNSUPPORTED = ("top_k", "stop", "seed", "presence_penalty", "frequency_penalty")


def build_request(request: UnifiedRequest, model: str) -> NativeRequest:
    """A ``/responses`` body for ``model``: the conversation as input items."""
    same = request.source_protocol == NAME
    raw = request.raw if same else {}
    body: dict[str, Any] = {k: v for k, v in raw.items() if k not in KNOWN_FIELDS}

    def warn(field: str, message: str) -> None:
        request.warnings.append(
            ConversionWarning("dropped_field", message, field, request.source_protocol, target_protocol=NAME)
        )

    body["model"] = model
    instructions, rest = _instructions(without_foreign_opaque(request, NAME), same, raw.get("instructions"))
    if instructions:
        body["instructions"] = instructions
    body["input"] = _tool_items(raw) + build_input(rest, same=same, warn=warn)
    tools = _tools(request, same)
    if tools:
        body["tools"] = tools
    raw_choice = raw.get("tool_choice")
    if isinstance(raw_choice, dict) and raw_choice.get("type") != "function":
        body["tool_choice"] = raw_choice  # hosted tools and allowed_tools lists replay verbatim
    elif request.tool_choice is not None:
        body["tool_choice"] = _choice(request.tool_choice)
    _set(body, "parallel_tool_calls", request.parallel_tool_calls)
    text = {k: v for k, v in (raw.get("text") or {}).items() if k != "format"}  # verbosity and friends
    if request.response_format is not None:
        text["format"] = _format(request.response_format)
    if text:
        body["text"] = text
    reasoning = request.reasoning if same or takes_effort(model) else None
    if reasoning is not None:
        body["reasoning"] = _reasoning(request, raw.get("reasoning"))
    elif request.reasoning is not None and not is_disabled(request.reasoning):
        warn("reasoning", f"{model} is not an OpenAI reasoning model; the thinking setting was dropped.")
    include = list(raw.get("include") or ())
    wanted = reasoning is not None and not is_disabled(reasoning)
    if (wanted or _carries_state(request.messages)) and ENCRYPTED_REASONING not in include:
        # Ask for reasoning in a form that can be replayed without upstream storage (and only then:
        # models without reasoning reject the include).
        include.append(ENCRYPTED_REASONING)
    if include:
        body["include"] = include
    _set(body, "max_output_tokens", request.max_tokens)
    _set(body, "temperature", request.temperature)
    _set(body, "top_p", request.top_p)
    _set(body, "user", request.user)
    _set(body, "prompt_cache_key", request.prompt_cache_key)
    if same:
        _set(body, "metadata", request.metadata)
        _set(body, "store", request.store)
    else:
        # The gateway replays history itself; nothing of another protocol's client is kept upstream.
        body["store"] = False
    if request.stream:
        body["stream"] = True
    for field in _UNSUPPORTED:
        if getattr(request, field) is not None:
            warn(field, f"The Responses API has no {field}; it was dropped.")
    return NativeRequest("/responses", body, stream=request.stream)


def _tool_items(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """A Responses client's own tool-carrying input items (Codex's ``additional_tools``), replayed first."""
    items = raw.get("input")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and item.get("type") in TOOL_ITEMS]


def _set(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _instructions(messages: list[Message], same: bool, client: Any) -> tuple[str | None, list[Message]]:
    """The ``instructions`` text and the messages that go out as input items."""
    if same:
        # A Responses client's own instructions come back exactly; its system items stay items.
        first = messages[0] if messages else None
        if client and first is not None and first.role == "system" and first.text == client:
            return client, messages[1:]
        return None, messages
    lead = 0
    while (
        lead < len(messages)
        and messages[lead].role in ("system", "developer")
        and all(isinstance(p, Text) for p in messages[lead].parts)
    ):
        lead += 1
    if not lead:
        return None, messages
    return "\n\n".join(m.text for m in messages[:lead]), messages[lead:]


def _tools(request: UnifiedRequest, same: bool) -> list[dict[str, Any]]:
    built: list[dict[str, Any]] = []
    for tool in request.tools:
        out: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            out["description"] = tool.description
        if tool.parameters is not None or not same:
            out["parameters"] = tool.parameters or {"type": "object", "properties": {}}
        # Responses tools are strict unless told otherwise; other protocols' tools never are.
        if tool.strict is not None or not same:
            out["strict"] = bool(tool.strict)
        if same and tool.extra:
            out.update((k, v) for k, v in tool.extra.items() if k not in out)
        built.append(out)
    if not same:
        return built
    # Same protocol: hosted tools replay verbatim, in their places (the tool list is part of the cached prefix).
    merged: list[dict[str, Any]] = []
    # Only the top-level functions; translated kinds replay verbatim from raw below.
    functions = (
        out
        for out, tool in zip(built, request.tools, strict=True)
        if tool.client_kind == "function" and tool.namespace is None
    )
    for raw in request.raw.get("tools") or ():
        if isinstance(raw, dict) and raw.get("type", "function") != "function":
            merged.append(raw)
        else:
            merged += [t for t in [next(functions, None)] if t is not None]
    # Tools that came inside input items (additional_tools, tool_search_output) go back there, not here.
    return merged


def _choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    if choice.allowed and choice.mode != "none":
        return {
            "type": "allowed_tools",
            "mode": "required" if choice.mode == "required" else "auto",
            "tools": [{"type": "function", "name": name} for name in choice.allowed],
        }
    return choice.mode


def _format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema" or fmt.schema is None:
        return {"type": "json_object" if fmt.type == "json_schema" else fmt.type}
    out: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema}
    if fmt.strict is not None:
        out["strict"] = fmt.strict
    return out


def _reasoning(request: UnifiedRequest, raw: Any) -> dict[str, Any]:
    config = request.reasoning
    assert config is not None
    out: dict[str, Any] = {}
    if isinstance(raw, dict):
        out.update((k, v) for k, v in raw.items() if k not in ("effort", "summary", "generate_summary"))
    _set(out, "effort", "none" if is_disabled(config) else effort_for(config))
    summary = config.summary
    if summary is None and config.include_thoughts:
        summary = "auto"
    _set(out, "summary", summary)
    return out


def _carries_state(messages: list[Message]) -> bool:
    return any(
        isinstance(p, Reasoning) and p.signature_family == "openai" and p.redacted
        for m in messages
        if m.role == "assistant"
        for p in m.parts
    )


# -- input items ---------------------------------------------------------------------------------------------


def build_input(messages: list[Message], *, same: bool, warn: Warn) -> list[dict[str, Any]]:
    """Unified messages as Responses input items, in order (leading instructions are the caller's business).

    ``same`` replays the parts' ``extra`` (a Responses client's own keys); ``warn(field, message)`` records
    what had to be dropped.
    """
    items: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}  # call id -> the kind of tool it called, so its output item matches
    for message in messages:
        if message.role == "assistant":
            kinds.update((p.id, p.client_kind) for p in message.parts if isinstance(p, ToolCall))
            items += _assistant_items(message.parts, same, warn)
            continue
        role = {"tool": "user", "system": "system" if same else "developer"}.get(message.role, message.role)
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ToolResult):
                # Anthropic and Gemini put results in user turns: keep the order, split around them.
                _flush(items, role, content, message, same)
                content = []
                items.append(function_output_item(part, same, kinds.get(part.tool_call_id, "function")))
            elif isinstance(part, Opaque):
                _flush(items, role, content, message, same)
                content = []
                items.append(part.data)
            elif isinstance(part, Text):
                content.append(with_extra({"type": "input_text", "text": part.text}, part.extra, same))
            elif isinstance(part, Media):
                content.append(media_item(part, same))
        _flush(items, role, content, message, same)
    return items


def _flush(items: list[dict[str, Any]], role: str, content: list[Any], message: Message, same: bool) -> None:
    if content:
        items.append(with_extra({"type": "message", "role": role, "content": content}, message.extra, same))


def _assistant_items(parts: list[Part], same: bool, warn: Warn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text_extra: dict[str, Any] | None = None
    for part in parts:
        if isinstance(part, Text):
            if not part.text:
                continue
            extra = part.extra if same else None
            last = items[-1] if items else None
            # Text runs join into one message item; the string form is what every Responses server accepts.
            if last is not None and last["type"] == "message" and extra == text_extra:
                last["content"] += part.text
            else:
                items.append(with_extra({"type": "message", "role": "assistant", "content": part.text}, extra, same))
                text_extra = extra
        elif isinstance(part, ToolCall) and (part.client_kind != "function" or part.namespace):
            tool = ToolDefinition(part.name, client_kind=part.client_kind, namespace=part.namespace)
            call = native_call_item("", part.id, part.name, part.arguments, "completed", tool)
            del call["id"], call["status"]
            # A Responses client's own call item (parsed whole into extra) goes back to a Responses upstream verbatim.
            verbatim = same and part.extra is not None and part.extra.get("type") == call["type"]
            items.append(dict(part.extra) if verbatim and part.extra is not None else call)
        elif isinstance(part, ToolCall):
            call = {"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments or "{}"}
            items.append(with_extra(call, part.extra, same))
        elif isinstance(part, Reasoning):
            if part.signature_family == "openai" and part.redacted:
                # Only OpenAI's own encrypted reasoning can go back to it; other families' state never crosses.
                item: dict[str, Any] = {"type": "reasoning"}
                if part.item_id:
                    item["id"] = part.item_id
                item["summary"] = [{"type": "summary_text", "text": part.text}] if part.text else []
                item["encrypted_content"] = part.redacted
                items.append(with_extra(item, part.extra, same))
        elif isinstance(part, Opaque):
            items.append(part.data)
        elif isinstance(part, Media):
            warn("input", f"An assistant {part.kind} cannot be sent to the Responses API; it was dropped.")
    return items
