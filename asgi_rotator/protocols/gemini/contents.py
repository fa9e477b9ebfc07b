"""Gemini ``contents`` and ``systemInstruction``: parts to unified messages and back.

A Gemini turn is ``{"role": "user" | "model", "parts": [...]}``. Tool results ride in user turns as
``functionResponse`` parts; the unified form keeps them as ``tool`` messages. ``thoughtSignature`` may sit on
thought, text or ``functionCall`` parts and is kept on the unified part it came with.
"""

from __future__ import annotations

from typing import Any, Literal

from ... import _json
from ...errors import invalid_request
from .._common import expect, new_id, parse_arguments, parse_data_url
from ..unified import Family, Media, Message, Opaque, Part, Reasoning, Role, Text, ToolCall, ToolResult
from .fields import both, get, opt, req, unknown

FAMILY: Family = "gemini"
PROTOCOL = "gemini"
#: Gemini 3 accepts this in place of a thought signature the gateway does not have.
SKIP_SIGNATURE = "skip_thought_signature_validator"
_PART_KEYS = both("text", "thought", "thoughtSignature", "inlineData", "fileData", "functionCall", "functionResponse")
_RESPONSE_KEYS = both("id", "name", "parts")


def media_kind(mime_type: str | None) -> Literal["image", "document", "audio", "file"]:
    """The unified media kind for a MIME type."""
    mime = mime_type or ""
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("audio/"):
        return "audio"
    if mime == "application/pdf" or mime.startswith("text/"):
        return "document"
    return "file"


def parse_media(raw: dict[str, Any], where: str) -> Media | None:
    """Media from an ``inlineData`` or ``fileData`` part, or None when the part holds neither."""
    blob = opt(raw, "inlineData", dict, where)
    if blob is not None:
        mime = opt(blob, "mimeType", str, f"{where}inlineData.")
        return Media(
            media_kind(mime),
            media_type=mime,
            data=req(blob, "data", str, f"{where}inlineData."),
            filename=opt(blob, "displayName", str, f"{where}inlineData."),
        )
    file = opt(raw, "fileData", dict, where)
    if file is not None:
        mime = opt(file, "mimeType", str, f"{where}fileData.")
        return Media(
            media_kind(mime),
            media_type=mime,
            url=req(file, "fileUri", str, f"{where}fileData."),
            filename=opt(file, "displayName", str, f"{where}fileData."),
        )
    return None


def parse_contents(raw_contents: list[Any], where: str = "contents") -> list[Message]:
    """Parse a client's ``contents``; calls without ids get synthetic ones, and responses find them by name."""
    pending: dict[str, list[str]] = {}
    messages: list[Message] = []
    for i, raw in enumerate(raw_contents):
        at = f"{where}[{i}]"
        raw = expect(raw, dict, at)
        role = opt(raw, "role", str, f"{at}.") or "user"
        if role not in ("user", "model", "function"):
            raise invalid_request(f"Field '{at}.role' must be 'user' or 'model'.", param=f"{at}.role")
        parts = [
            _parse_part(p, f"{at}.parts[{j}]", role, pending)
            for j, p in enumerate(opt(raw, "parts", list, f"{at}.") or [])
        ]
        if role == "model":
            messages.append(Message("assistant", parts))
            continue
        # One user turn may hold function responses and other parts; unified tool results are tool messages.
        current: Message | None = None
        for part in parts:
            role_now: Role = "tool" if isinstance(part, ToolResult) else "user"
            if current is None or current.role != role_now:
                current = Message(role_now, [])
                messages.append(current)
            current.parts.append(part)
    return messages


def _parse_part(raw: Any, where: str, role: str, pending: dict[str, list[str]]) -> Part:
    raw = expect(raw, dict, where)
    extra = unknown(raw, _PART_KEYS) or None
    signature = opt(raw, "thoughtSignature", str, f"{where}.") or None
    family: Family | None = FAMILY if signature else None
    call = opt(raw, "functionCall", dict, f"{where}.")
    if call is not None:
        if role != "model":
            raise invalid_request(f"'{where}.functionCall' may appear only in a model turn.", param=where)
        name = req(call, "name", str, f"{where}.functionCall.")
        call_id = opt(call, "id", str, f"{where}.functionCall.") or new_id("call_")
        pending.setdefault(name, []).append(call_id)
        args = opt(call, "args", dict, f"{where}.functionCall.") or {}
        return ToolCall(call_id, name, _json.dumps_str(args), signature=signature, signature_family=family, extra=extra)
    response = opt(raw, "functionResponse", dict, f"{where}.")
    if response is not None:
        if role == "model":
            raise invalid_request(f"'{where}.functionResponse' may not appear in a model turn.", param=where)
        return _parse_function_response(response, f"{where}.functionResponse.", pending)
    text = opt(raw, "text", str, f"{where}.")
    if text is not None:
        if get(raw, "thought") is True:
            return Reasoning(text, signature=signature, signature_family=family, extra=extra)
        return Text(text, signature=signature, signature_family=family, extra=extra)
    media = parse_media(raw, f"{where}.")
    if media is not None:
        media.extra = extra
        return media
    if signature:
        return Text("", signature=signature, signature_family=family, extra=extra)
    if not raw:
        raise invalid_request(f"Empty part in '{where}'.", param=where)
    # executableCode, codeExecutionResult and other parts with no unified form go back whole to Gemini.
    return Opaque(PROTOCOL, raw)


def _parse_function_response(raw: dict[str, Any], where: str, pending: dict[str, list[str]]) -> ToolResult:
    name = req(raw, "name", str, where)
    waiting = pending.get(name) or []
    call_id = opt(raw, "id", str, where)
    if call_id is None:
        # Older Gemini API versions carry no ids: answer the oldest open call of the same name.
        call_id = waiting.pop(0) if waiting else new_id("call_")
    elif call_id in waiting:
        waiting.remove(call_id)
    response = opt(raw, "response", dict, where)
    content, is_error = result_content(response)
    for j, part in enumerate(opt(raw, "parts", list, where) or []):
        media = parse_media(expect(part, dict, f"{where}parts[{j}]"), f"{where}parts[{j}].")
        if media is not None:
            content.append(media)
    return ToolResult(call_id, content, name=name, is_error=is_error, extra=unknown(raw, _RESPONSE_KEYS) or None)


def result_content(response: dict[str, Any] | None) -> tuple[list[Text | Media], bool]:
    """Unwrap ``{"result": text}``, ``{"output": text}`` and ``{"error": ...}``; other objects stay JSON text."""
    if response is None:
        return [], False
    if len(response) == 1:
        key, value = next(iter(response.items()))
        if key == "error":
            return [Text(value if isinstance(value, str) else _json.dumps_str(value))], True
        if key in ("result", "output", "content") and isinstance(value, str):
            return [Text(value)], False
    return [Text(_json.dumps_str(response))], False


def parse_system(raw: Any, where: str = "systemInstruction") -> Message:
    """``systemInstruction`` (a Content, or a bare string some clients send) as one system message."""
    if isinstance(raw, str):
        return Message("system", [Text(raw)])
    raw = expect(raw, dict, where)
    parts = get(raw, "parts")
    if isinstance(parts, dict):
        parts = [parts]
    texts: list[Part] = []
    for j, part in enumerate(expect(parts if parts is not None else [], list, f"{where}.parts")):
        texts.append(Text(req(expect(part, dict, f"{where}.parts[{j}]"), "text", str, f"{where}.parts[{j}].")))
    return Message("system", texts)


# -- building ----------------------------------------------------------------------------------------------


def build_contents(
    messages: list[Message], model: str, *, same_protocol: bool
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(systemInstruction, contents)`` for a Gemini request: leading system and developer messages become the
    former; later ones stay in place as user turns."""
    names = {p.id: p.name for m in messages for p in m.parts if isinstance(p, ToolCall)}
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            texts = []
            for part in message.parts:
                if not isinstance(part, Text):
                    raise invalid_request(f"Gemini system instructions hold only text ('{where}').", param=where)
                texts.append({"text": part.text})
            if contents:
                # A mid-conversation instruction keeps its place: Gemini has no system turn, so a user turn.
                contents.append({"role": "user", "parts": texts})
            else:
                system += texts
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = [p for part in message.parts if (p := _build_part(part, role, names, same_protocol, where))]
        if not parts:
            continue
        tool_turn = _is_tool_turn(parts)
        # Parallel calls must be answered in one turn; a merged model turn keeps its calls together too. A Gemini
        # client's own turns stay as it sent them.
        mergeable = contents and contents[-1]["role"] == role and _is_tool_turn(contents[-1]["parts"]) == tool_turn
        if mergeable and not same_protocol:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if is_gemini_3(model):
        _first_call_signed(contents)
    return ({"parts": system} if system else None), contents


def is_gemini_3(model: str) -> bool:
    """True for Gemini 3 models, which validate thought signatures on function calls."""
    return model.removeprefix("models/").startswith("gemini-3")


def _first_call_signed(contents: list[dict[str, Any]]) -> None:
    # Gemini 3 signs only the first of parallel calls; a turn with no signature of ours gets the skip marker.
    for content in contents:
        calls = [p for p in content["parts"] if "functionCall" in p] if content["role"] == "model" else []
        if calls:
            calls[0].setdefault("thoughtSignature", SKIP_SIGNATURE)
            for call in calls[1:]:
                call.pop("thoughtSignature", None)


def _is_tool_turn(parts: list[dict[str, Any]]) -> bool:
    return any("functionResponse" in p for p in parts)


def _signed(out: dict[str, Any], part: Text | Reasoning | ToolCall) -> dict[str, Any]:
    if part.signature and part.signature_family == FAMILY:
        out["thoughtSignature"] = part.signature
    return out


def _build_part(part: Part, role: str, names: dict[str, str], same_protocol: bool, where: str) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if isinstance(part, Text):
        out = _signed({"text": part.text}, part) if part.text or part.signature_family == FAMILY else None
    elif isinstance(part, Reasoning):
        # Only Gemini's own thoughts go to Gemini: signed ones, or a Gemini client's unsigned ones sent back as
        # they came. Other families' reasoning stays with its family.
        own = part.signature_family == FAMILY and bool(part.signature)
        if not own and not (same_protocol and part.signature_family is None and part.text):
            return None
        out = _signed({"text": part.text, "thought": True}, part)
    elif isinstance(part, Media):
        out = build_media(part, where)
    elif isinstance(part, ToolCall):
        if role != "model":
            raise invalid_request(f"Tool calls may appear only in assistant messages ('{where}').", param=where)
        args = parse_arguments(part.arguments, where=f"{where}.tool_calls")
        out = _signed({"functionCall": {"id": part.id, "name": part.name, "args": args}}, part)
    elif isinstance(part, ToolResult):
        return {"functionResponse": _build_function_response(part, names, same_protocol, where)}
    else:
        return part.data  # Gemini's own opaque part (the builder drops other protocols' with a warning)
    if out is not None and same_protocol and part.extra:
        out.update(part.extra)
    return out


def _build_function_response(
    result: ToolResult, names: dict[str, str], same_protocol: bool, where: str
) -> dict[str, Any]:
    name = result.name or names.get(result.tool_call_id)
    if not name:
        raise invalid_request(
            f"Gemini needs the function name of tool result '{result.tool_call_id}' ('{where}'), and no earlier "
            "tool call has that id.",
            param=where,
        )
    text = "".join(p.text for p in result.content if isinstance(p, Text))
    # Gemini wants an object: text results are wrapped, and is_error is said with the "error" key.
    out: dict[str, Any] = {
        "id": result.tool_call_id,
        "name": name,
        "response": {"error": text} if result.is_error else {"result": text},
    }
    media = [build_media(p, where) for p in result.content if isinstance(p, Media)]
    if media:
        out["parts"] = media
    if same_protocol and result.extra:
        out.update(result.extra)
    return out


def build_media(media: Media, where: str) -> dict[str, Any]:
    """An ``inlineData`` or ``fileData`` part."""
    data, mime = media.data, media.media_type
    if data is None and media.url:
        inline = parse_data_url(media.url)
        if inline is not None:
            mime, data = inline[0] or mime, inline[1]
    if data is not None:
        if not mime:
            raise invalid_request(f"Gemini needs the media type of inline media in '{where}'.", param=where)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if media.url:
        file: dict[str, Any] = {"fileUri": media.url}
        if mime:
            file["mimeType"] = mime
        return {"fileData": file}
    raise invalid_request(
        f"Gemini cannot reference file id {media.file_id!r} ('{where}'); send the file inline or by URL.", param=where
    )
