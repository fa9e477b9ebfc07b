"""Gemini upstream requests: ``:generateContent``, ``:streamGenerateContent?alt=sse`` and ``:countTokens``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .._common import without_foreign_opaque
from ..base import NativeRequest
from ..reasoning import budget_for, level_for
from ..unified import ConversionWarning, ReasoningConfig, ResponseFormat, ToolChoice, UnifiedRequest
from .contents import build_contents, is_gemini_3
from .fields import get, snake, unknown
from .requests import GENERATION_FIELDS, KNOWN_FIELDS

_FORMAT_FIELDS = ("responseMimeType", "responseSchema", "responseJsonSchema")


def model_path(model: str, operation: str) -> str:
    """``/v1beta/models/{model}:{operation}`` (a ``models/`` prefix on the name is tolerated). The model is
    percent-encoded whole: a name such as ``../../v1beta/cachedContents`` or one holding ``?``, ``#`` or
    ``%2F`` stays one path segment and can never reach another resource of the API."""
    return f"/v1beta/models/{quote(model.removeprefix('models/'), safe='')}:{operation}"


def build_request(request: UnifiedRequest, model: str) -> NativeRequest:
    """The upstream request for ``model``; streams ask for SSE with ``alt=sse``."""
    body = build_body(request, model)
    if request.stream:
        return NativeRequest(model_path(model, "streamGenerateContent"), body, query={"alt": "sse"}, stream=True)
    return NativeRequest(model_path(model, "generateContent"), body)


def build_count_tokens(request: UnifiedRequest, model: str) -> NativeRequest:
    """A ``countTokens`` request; anything beyond contents needs the ``generateContentRequest`` form."""
    body = build_body(request, model)
    if set(body) == {"contents"}:
        return NativeRequest(model_path(model, "countTokens"), body)
    name = model if model.startswith("models/") else f"models/{model}"
    return NativeRequest(model_path(model, "countTokens"), {"generateContentRequest": {"model": name, **body}})


def build_body(request: UnifiedRequest, model: str) -> dict[str, Any]:
    """A ``GenerateContentRequest`` body from a unified request."""
    same = request.source_protocol == "gemini"
    raw = request.raw if same else {}
    body: dict[str, Any] = unknown(raw, KNOWN_FIELDS)
    system, contents = build_contents(without_foreign_opaque(request, "gemini"), model, same_protocol=same)
    body["contents"] = contents
    if system is not None:
        body["systemInstruction"] = system
    tools = _build_tools(request, same)
    if tools:
        body["tools"] = tools
    tool_config = dict(get(raw, "toolConfig") or {})
    if request.tool_choice is not None:
        for key in ("functionCallingConfig", snake("functionCallingConfig")):
            tool_config.pop(key, None)
        tool_config["functionCallingConfig"] = _build_tool_choice(request.tool_choice)
    if tool_config:
        body["toolConfig"] = tool_config
    config = _build_generation_config(request, model, same)
    if config:
        body["generationConfig"] = config
    if not same:
        _warn_dropped(request)
    return body


def _build_tools(request: UnifiedRequest, same: bool) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            declaration["description"] = tool.description
        native = same and tool.extra is not None and get(tool.extra, "parameters") is not None
        if tool.parameters is not None and not native:
            # JSON Schema travels as parametersJsonSchema; Gemini's own Schema dialect would need converting.
            declaration["parametersJsonSchema"] = tool.parameters
        if same and tool.extra:
            declaration.update(tool.extra)
        declarations.append(declaration)
    tools: list[dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
    if same:
        # Built-in tools (googleSearch, codeExecution, urlContext ...) have no unified form: replay them.
        raw_tools = get(request.raw, "tools") or []
        tools += [t for t in raw_tools if isinstance(t, dict) and get(t, "functionDeclarations") is None]
    return tools


def _build_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "none":
        return {"mode": "NONE"}
    if choice.mode == "tool":
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    if choice.mode == "required":
        out: dict[str, Any] = {"mode": "ANY"}
        if choice.allowed:
            out["allowedFunctionNames"] = list(choice.allowed)
        return out
    if choice.allowed:
        # AUTO takes no name list; VALIDATED is "auto" restricted to the allowed functions.
        return {"mode": "VALIDATED", "allowedFunctionNames": list(choice.allowed)}
    return {"mode": "AUTO"}


def _build_generation_config(request: UnifiedRequest, model: str, same: bool) -> dict[str, Any]:
    raw_config = get(request.raw, "generationConfig") if same else None
    raw_config = raw_config if isinstance(raw_config, dict) else {}
    config: dict[str, Any] = unknown(raw_config, GENERATION_FIELDS)
    values = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": request.top_k,
        "maxOutputTokens": request.max_tokens,
        "stopSequences": request.stop,
        "seed": request.seed,
        "presencePenalty": request.presence_penalty,
        "frequencyPenalty": request.frequency_penalty,
    }
    config.update((k, v) for k, v in values.items() if v is not None)
    if same and any(get(raw_config, k) is not None for k in _FORMAT_FIELDS):
        # The client's own schema dialect and MIME type go back verbatim (text/x.enum has no unified form).
        config.update((k, get(raw_config, k)) for k in _FORMAT_FIELDS if get(raw_config, k) is not None)
    elif request.response_format is not None:
        config.update(_build_response_format(request.response_format))
    raw_thinking = get(raw_config, "thinkingConfig")
    if isinstance(raw_thinking, dict):
        # A dynamic budget (-1) or a level meant for this very model survives only verbatim.
        config["thinkingConfig"] = raw_thinking
    elif request.reasoning is not None:
        thinking = _build_thinking(request.reasoning, model)
        if thinking:
            config["thinkingConfig"] = thinking
    return config


def _build_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type == "text":
        return {"responseMimeType": "text/plain"}
    if fmt.type == "json_object" or fmt.schema is None:
        return {"responseMimeType": "application/json"}
    return {"responseMimeType": "application/json", "responseJsonSchema": fmt.schema}


def _build_thinking(reasoning: ReasoningConfig, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    name = model.removeprefix("models/")
    if reasoning.enabled is False:
        # Gemini 3 and 2.5 Pro cannot stop thinking: ask for the least they allow instead.
        if is_gemini_3(name):
            out["thinkingLevel"] = "low"
        else:
            out["thinkingBudget"] = 128 if "2.5-pro" in name else 0
        return out
    if reasoning.budget_tokens is not None:
        out["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None and is_gemini_3(name):
        out["thinkingLevel"] = level_for(reasoning)
    elif (budget := budget_for(reasoning)) is not None:
        out["thinkingBudget"] = budget
    include = reasoning.include_thoughts
    if include is None and reasoning.summary is not None:
        include = reasoning.summary != "none"
    if include is not None:
        out["includeThoughts"] = include
    return out


def _warn_dropped(request: UnifiedRequest) -> None:
    def warn(field: str, message: str) -> None:
        request.warnings.append(
            ConversionWarning(
                "dropped_field", message, field=field, source_protocol=request.source_protocol, target_protocol="gemini"
            )
        )

    if request.parallel_tool_calls is False:
        warn("parallel_tool_calls", "Gemini cannot forbid parallel function calls; the setting was dropped.")
    if any(t.strict for t in request.tools):
        warn("tools.strict", "Gemini has no strict mode for function declarations; it was dropped.")
    if request.response_format is not None and request.response_format.strict:
        warn("response_format.strict", "Gemini has no strict flag for response schemas; it was dropped.")
