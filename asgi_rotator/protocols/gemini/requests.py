"""Gemini ``generateContent`` and ``countTokens`` client bodies to a unified request.

The model and the stream flag come from the URL (``/v1beta/models/{model}:streamGenerateContent``), never
from the body. ``countTokens`` takes either ``{"contents": [...]}`` or ``{"generateContentRequest": {...}}``.
"""

from __future__ import annotations

from typing import Any

from ...errors import invalid_request
from .._common import expect
from ..fidelity import dropped_tool, source_only
from ..unified import ReasoningConfig, ResponseFormat, ToolChoice, ToolDefinition, UnifiedRequest
from .contents import parse_contents, parse_system
from .fields import both, get, opt, req, to_json_schema, unknown

#: Top-level fields this module understands; on same-protocol paths every other key (``safetySettings``,
#: ``cachedContent``, ``labels`` ...) passes through untouched.
KNOWN_FIELDS = both("model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig")
GENERATION_FIELDS = both(
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "candidateCount",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
)
#: ``parameters`` (Gemini's own Schema dialect) is not listed: it stays in ``extra`` and is replayed verbatim.
DECLARATION_FIELDS = both("name", "description", "parametersJsonSchema")
_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}


def parse_request(body: dict[str, Any], *, model: str | None, operation: str, stream: bool) -> UnifiedRequest:
    """Parse a Gemini client body (``operation`` is ``generate`` or ``count_tokens``)."""
    where = ""
    if operation == "count_tokens":
        inner = opt(body, "generateContentRequest", dict)
        if inner is not None:
            body, where = inner, "generateContentRequest."
    name = model or (opt(body, "model", str, where) or "").removeprefix("models/")
    if not name:
        raise invalid_request("The model is missing from the request path.", param="model")
    request = UnifiedRequest(
        model=name, operation=operation, stream=stream and operation == "generate", source_protocol="gemini", raw=body
    )
    system = get(body, "systemInstruction")
    if system is not None:
        request.messages.append(parse_system(system, f"{where}systemInstruction"))
    request.messages += parse_contents(req(body, "contents", list, where), f"{where}contents")
    for i, tool in enumerate(opt(body, "tools", list, where) or []):
        tool = expect(tool, dict, f"{where}tools[{i}]")
        declarations = opt(tool, "functionDeclarations", list, f"{where}tools[{i}].") or []
        hosted = [k for k in tool if k not in ("functionDeclarations", "function_declarations")]
        if hosted:
            dropped_tool(
                request, f"{where}tools[{i}]", f"The {hosted[0]} tool runs only at a Gemini upstream; it was dropped."
            )
        request.tools += [
            _parse_declaration(d, f"{where}tools[{i}].functionDeclarations[{j}]") for j, d in enumerate(declarations)
        ]
    tool_config = opt(body, "toolConfig", dict, where)
    if tool_config is not None:
        request.tool_choice = _parse_tool_choice(
            opt(tool_config, "functionCallingConfig", dict, f"{where}toolConfig."),
            f"{where}toolConfig.functionCallingConfig.",
        )
    config = opt(body, "generationConfig", dict, where)
    if config is not None:
        _parse_generation_config(request, config, f"{where}generationConfig.")
    return request


def _parse_declaration(raw: Any, where: str) -> ToolDefinition:
    raw = expect(raw, dict, where)
    schema = opt(raw, "parametersJsonSchema", dict, f"{where}.")
    native = opt(raw, "parameters", dict, f"{where}.")
    if schema is None and native is not None:
        schema = to_json_schema(native)
    return ToolDefinition(
        name=req(raw, "name", str, f"{where}."),
        description=opt(raw, "description", str, f"{where}."),
        parameters=schema,
        extra=unknown(raw, DECLARATION_FIELDS) or None,
    )


def _parse_tool_choice(raw: dict[str, Any] | None, where: str) -> ToolChoice | None:
    if raw is None:
        return None
    mode = (opt(raw, "mode", str, where) or "AUTO").upper()
    if mode == "MODE_UNSPECIFIED":
        mode = "AUTO"
    if mode not in _MODES:
        raise invalid_request(f"Field '{where}mode' must be AUTO, ANY, NONE or VALIDATED.", param=f"{where}mode")
    allowed = opt(raw, "allowedFunctionNames", list, where)
    if allowed is not None:
        allowed = [expect(n, str, f"{where}allowedFunctionNames[{i}]") for i, n in enumerate(allowed)]
    return ToolChoice(_MODES[mode], allowed=allowed or None)  # type: ignore[arg-type]


def _parse_generation_config(request: UnifiedRequest, config: dict[str, Any], where: str) -> None:
    request.temperature = opt(config, "temperature", float, where)
    request.top_p = opt(config, "topP", float, where)
    top_k = opt(config, "topK", float, where)
    request.top_k = None if top_k is None else int(top_k)
    request.max_tokens = opt(config, "maxOutputTokens", int, where)
    stop = opt(config, "stopSequences", list, where)
    if stop is not None:
        request.stop = [expect(s, str, f"{where}stopSequences[{i}]") for i, s in enumerate(stop)]
    request.seed = opt(config, "seed", int, where)
    request.presence_penalty = opt(config, "presencePenalty", float, where)
    request.frequency_penalty = opt(config, "frequencyPenalty", float, where)
    candidates = opt(config, "candidateCount", int, where)
    if candidates is not None and candidates > 1:
        # A unified answer holds one candidate, so more could never reach the client.
        raise invalid_request(
            "Field 'generationConfig.candidateCount' above 1 is not supported by this gateway.",
            param=f"{where}candidateCount",
        )
    if opt(config, "responseLogprobs", bool, where) or opt(config, "logprobs", int, where):
        source_only(request, f"{where}responseLogprobs", "logprobs are given only by a Gemini upstream.")
    modalities = opt(config, "responseModalities", list, where) or []
    if any(str(m).upper() != "TEXT" for m in modalities) or get(config, "speechConfig") is not None:
        source_only(request, f"{where}responseModalities", "Audio and image output need a Gemini upstream.")
    request.response_format = _parse_response_format(config, where)
    thinking = opt(config, "thinkingConfig", dict, where)
    if thinking is not None:
        request.reasoning = _parse_thinking(thinking, f"{where}thinkingConfig.")


def _parse_response_format(config: dict[str, Any], where: str) -> ResponseFormat | None:
    mime = opt(config, "responseMimeType", str, where)
    schema = opt(config, "responseJsonSchema", dict, where)
    native = opt(config, "responseSchema", dict, where)
    if schema is None and native is not None:
        schema = to_json_schema(native)
    if schema is not None:
        return ResponseFormat("json_schema", schema=schema)
    if mime == "application/json":
        return ResponseFormat("json_object")
    if mime == "text/plain":
        return ResponseFormat("text")
    # Other types (text/x.enum ...) have no unified form; same-protocol paths replay them from the raw body.
    return None


def _parse_thinking(raw: dict[str, Any], where: str) -> ReasoningConfig:
    budget = opt(raw, "thinkingBudget", int, where)
    level = opt(raw, "thinkingLevel", str, where)
    config = ReasoningConfig(include_thoughts=opt(raw, "includeThoughts", bool, where))
    if budget is not None:
        # 0 turns thinking off; -1 asks for a dynamic budget (enabled, no particular size).
        config.enabled = budget != 0
        config.budget_tokens = budget if budget > 0 else None
    if level is not None and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
        config.effort = level.lower()
        config.enabled = True if config.enabled is None else config.enabled
    return config
