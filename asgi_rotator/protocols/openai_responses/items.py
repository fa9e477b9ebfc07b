"""Responses API input items (messages, function calls and their outputs, reasoning) as unified messages.

Input items and output items share these shapes, which is what lets a stored response's output be replayed
as the next request's input. Keys this module does not model ride in the parts' ``extra`` and are replayed
only to a Responses upstream (see :mod:`.build`); item ids never are (the gateway mints its own).
"""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import invalid_request
from .._common import data_url, expect, optional, parse_data_url, require
from ..unified import ConversionWarning, Media, Message, Opaque, Part, Reasoning, Text, ToolCall, ToolResult
from .client_tools import flat_name, parse_call, search_result_text

PROTOCOL = "openai_responses"
_ROLES = frozenset({"user", "assistant", "system", "developer"})
#: Items that are never carried opaquely: an ``item_reference`` names stored state the gateway must resolve.
_NOT_OPAQUE = frozenset({"item_reference"})
#: Calls of Codex's own tool kinds: function calls once translated (see :mod:`.client_tools`).
_CLIENT_CALLS = frozenset({"custom_tool_call", "local_shell_call", "tool_search_call"})
#: Results of those calls (``local_shell_call_output`` names its call by ``id``).
_CLIENT_OUTPUTS = frozenset({"custom_tool_call_output", "local_shell_call_output", "tool_search_output"})
#: Hosted tools' calls: the provider ran them, so their history means nothing to another provider.
HOSTED_CALLS = frozenset(
    {"web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call", "mcp_call"}
)
#: Items that carry tools rather than conversation; the request parser reads them.
TOOL_ITEMS = frozenset({"additional_tools"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
#: File types by extension: the API reads a file's type from its name (a fixed table: protocols do no I/O).
_EXTENSIONS = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".xml": "application/xml",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_SUFFIXES = {media_type: suffix for suffix, media_type in _EXTENSIONS.items()}
#: Keys each shape models itself; anything else is kept in ``extra``.
_KNOWN = {
    "message": frozenset({"type", "id", "status", "role", "content"}),
    "function_call": frozenset({"type", "id", "status", "call_id", "name", "arguments", "namespace"}),
    "function_call_output": frozenset({"type", "id", "status", "call_id", "output"}),
    "reasoning": frozenset({"type", "id", "status", "summary", "encrypted_content"}),
    "text": frozenset({"type", "text", "annotations", "logprobs"}),
    "input_image": frozenset({"type", "image_url", "file_id", "detail"}),
    "input_file": frozenset({"type", "file_data", "file_id", "file_url", "filename"}),
}


def extra_of(raw: dict[str, Any], shape: str) -> dict[str, Any] | None:
    """The keys of ``raw`` that ``shape`` does not model, or None when there are none."""
    known = _KNOWN[shape]
    extra = {k: v for k, v in raw.items() if k not in known}
    return extra or None


def parse_input(raw: Any, warnings: list[ConversionWarning] | None = None) -> list[Message]:
    """The ``input`` field (a string or a list of items) as unified messages; ``warnings`` gets what was
    dropped (hosted tools' call history)."""
    if isinstance(raw, str):
        return [Message("user", [Text(raw)])]
    messages: list[Message] = []
    for i, item in enumerate(expect(raw, list, "input")):
        where = f"input[{i}]"
        item = expect(item, dict, where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = require(item, "role", str, f"{where}.")
            if role not in _ROLES:
                raise invalid_request(
                    f"Field '{where}.role' must be user, assistant, system or developer.", param=f"{where}.role"
                )
            parts = _content(item.get("content"), f"{where}.content")
            extra = extra_of(item, "message")
            if role == "assistant":
                # Items of a turn merge below, so the item's own keys (phase) ride on its text; an assistant
                # message goes back as one string, which has no room for per-part keys.
                for part in parts:
                    if isinstance(part, Text):
                        part.extra = extra
                _append(messages, "assistant", parts)
            else:
                messages.append(Message(role, parts, extra=extra))
        elif kind == "function_call":
            arguments = item.get("arguments")
            if isinstance(arguments, dict):  # tolerated: some clients send objects
                arguments = _json.dumps_str(arguments)
            elif arguments is not None:
                arguments = expect(arguments, str, f"{where}.arguments")
            namespace = optional(item, "namespace", str, f"{where}.")
            call = ToolCall(
                require(item, "call_id", str, f"{where}."),
                flat_name(namespace, require(item, "name", str, f"{where}.")),
                arguments or "{}",
                extra=extra_of(item, "function_call"),
                namespace=namespace,
            )
            _append(messages, "assistant", [call])
        elif kind in _CLIENT_CALLS:
            _append(messages, "assistant", [parse_call(item, kind, where)])
        elif kind in _CLIENT_OUTPUTS:
            _append(messages, "tool", [_client_output(item, kind, where)])
        elif kind in HOSTED_CALLS:
            # A hosted tool's history goes back verbatim to a Responses upstream, and is dropped (with a
            # warning) on the way to any other: see without_foreign_opaque.
            _append(messages, "assistant", [Opaque(PROTOCOL, item)])
        elif kind in TOOL_ITEMS:
            continue
        elif kind == "function_call_output":
            output = require(item, "output", (str, list), f"{where}.")
            content = [Text(output)] if isinstance(output, str) else _content(output, f"{where}.output")
            result = ToolResult(
                require(item, "call_id", str, f"{where}."),
                [p for p in content if isinstance(p, Text | Media)],
                extra=extra_of(item, "function_call_output"),
            )
            _append(messages, "tool", [result])
        elif kind == "reasoning":
            _append(messages, "assistant", [_reasoning(item, where)])
        elif isinstance(kind, str) and kind not in _NOT_OPAQUE:
            # Items the gateway does not model (custom_tool_call, local_shell_call, web_search_call,
            # additional_tools ...) go back whole, in place, to a Responses provider.
            _append(messages, "tool" if kind.endswith("_output") else "assistant", [Opaque(PROTOCOL, item)])
        else:
            raise invalid_request(f"Unsupported input item type {kind!r} in '{where}'.", param=f"{where}.type")
    return messages


def _client_output(item: dict[str, Any], kind: str, where: str) -> ToolResult:
    if kind == "tool_search_output":
        call_id = require(item, "call_id", str, f"{where}.")
        return ToolResult(call_id, [Text(search_result_text(item, where))], extra=dict(item))
    call_id = optional(item, "call_id", str, f"{where}.") or require(item, "id", str, f"{where}.")
    output = require(item, "output", (str, list), f"{where}.")
    content = [Text(output)] if isinstance(output, str) else _content(output, f"{where}.output")
    return ToolResult(call_id, [p for p in content if isinstance(p, Text | Media)], extra=dict(item))


def _reasoning(item: dict[str, Any], where: str) -> Reasoning:
    summaries = optional(item, "summary", list, f"{where}.") or []
    texts = [
        require(expect(s, dict, f"{where}.summary[{j}]"), "text", str, f"{where}.summary[{j}].")
        for j, s in enumerate(summaries)
    ]
    encrypted = optional(item, "encrypted_content", str, f"{where}.")
    return Reasoning(
        "\n\n".join(texts),
        redacted=encrypted or None,
        item_id=optional(item, "id", str, f"{where}."),
        signature_family="openai" if encrypted else None,
        extra=extra_of(item, "reasoning"),
    )


def _append(messages: list[Message], role: Any, parts: list[Part]) -> None:
    # Items of one assistant turn (reasoning, text, calls) arrive separately; they form one message.
    if messages and messages[-1].role == role and role in ("assistant", "tool"):
        messages[-1].parts.extend(parts)
    else:
        messages.append(Message(role, parts))


def _content(raw: Any, where: str) -> list[Part]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [Text(raw)]
    parts: list[Part] = []
    for j, part in enumerate(expect(raw, list, where)):
        at = f"{where}[{j}]"
        part = expect(part, dict, at)
        kind = require(part, "type", str, f"{at}.")
        if kind in _TEXT_PARTS:
            parts.append(Text(require(part, "text", str, f"{at}."), extra=extra_of(part, "text")))
        elif kind == "refusal":
            parts.append(Text(require(part, "refusal", str, f"{at}.")))
        elif kind == "input_image":
            parts.append(_image(part, at))
        elif kind == "input_file":
            parts.append(_file(part, at))
        else:
            raise invalid_request(f"Unsupported content part type {kind!r} in '{at}'.", param=f"{at}.type")
    return parts


def _image(part: dict[str, Any], at: str) -> Media:
    url = optional(part, "image_url", str, f"{at}.")
    file_id = optional(part, "file_id", str, f"{at}.")
    if not url and not file_id:
        raise invalid_request(f"Field '{at}' needs an image_url or a file_id.", param=f"{at}.image_url")
    inline = parse_data_url(url) if url else None
    return Media(
        "image",
        media_type=inline[0] if inline else None,
        data=inline[1] if inline else None,
        url=None if inline else url,
        file_id=file_id,
        detail=optional(part, "detail", str, f"{at}."),
        extra=extra_of(part, "input_image"),
    )


def _file(part: dict[str, Any], at: str) -> Media:
    file_data = optional(part, "file_data", str, f"{at}.")
    file_id = optional(part, "file_id", str, f"{at}.")
    file_url = optional(part, "file_url", str, f"{at}.")
    filename = optional(part, "filename", str, f"{at}.")
    if not (file_data or file_id or file_url):
        raise invalid_request(f"Field '{at}' needs file_data, a file_id or a file_url.", param=f"{at}.file_data")
    media_type, data = None, None
    if file_data:
        # The API takes a data URL; bare base64 is accepted too, its type read from the file name.
        inline = parse_data_url(file_data)
        media_type, data = inline if inline else (None, file_data)
    if media_type is None and filename:
        media_type = _EXTENSIONS.get(filename[filename.rfind(".") :].lower()) if "." in filename else None
    return Media(
        "document" if media_type == "application/pdf" else "file",
        media_type=media_type,
        data=data,
        url=file_url,
        file_id=file_id,
        filename=filename,
        extra=extra_of(part, "input_file"),
    )


# -- building items ------------------------------------------------------------------------------------------


def with_extra(item: dict[str, Any], extra: dict[str, Any] | None, same: bool) -> dict[str, Any]:
    """``item`` with ``extra``'s keys added on same-protocol paths (known keys win)."""
    if same and extra:
        item.update((k, v) for k, v in extra.items() if k not in item)
    return item


#: The output item type answering a call of each tool kind (Codex answers local_shell calls as functions).
_OUTPUT_TYPES = {"custom": "custom_tool_call_output"}


def function_output_item(result: ToolResult, same: bool, kind: str = "function") -> dict[str, Any]:
    """A ``function_call_output`` item (or the output type of ``kind``'s calls): text as a string, with media
    as a list of parts. A client tool's output item (parsed whole into ``extra``) replays verbatim on
    same-protocol paths."""
    if same and result.extra is not None and "type" in result.extra:
        return dict(result.extra)
    output: Any
    if any(isinstance(p, Media) for p in result.content):
        output = [
            media_item(p, same) if isinstance(p, Media) else {"type": "input_text", "text": p.text}
            for p in result.content
        ]
        if result.is_error and output[0]["type"] == "input_text":
            output[0]["text"] = f"Error: {output[0]['text']}"
        elif result.is_error:
            output.insert(0, {"type": "input_text", "text": "Error:"})
    else:
        text = "".join(p.text for p in result.content if isinstance(p, Text))
        # The Responses API has no error flag on tool outputs: say it in the output rather than lose it.
        output = f"Error: {text}" if result.is_error else text
    item = {"type": _OUTPUT_TYPES.get(kind, "function_call_output"), "call_id": result.tool_call_id, "output": output}
    return with_extra(item, result.extra, same)


def media_item(media: Media, same: bool) -> dict[str, Any]:
    """A content part for ``media``; audio has no Responses form (a 400: required media is never dropped)."""
    if media.kind == "audio":
        raise invalid_request("The Responses API takes no audio input; the audio would be lost.", param="input")
    if media.kind == "image":
        image: dict[str, Any] = {"type": "input_image", "detail": media.detail or "auto"}
        if media.file_id:
            image["file_id"] = media.file_id
        elif media.data is not None:
            image["image_url"] = data_url(media)
        elif media.url:
            image["image_url"] = media.url
        else:
            raise invalid_request("An image has no data, URL or file id.", param="input")
        return with_extra(image, media.extra, same)
    file: dict[str, Any] = {"type": "input_file"}
    if media.file_id:
        file["file_id"] = media.file_id
    elif media.data is not None:
        file["file_data"] = data_url(media)
        # The API reads the file type from its name, so inline data always gets one.
        file["filename"] = media.filename or f"{media.kind}{_SUFFIXES.get(media.media_type or '', '')}"
    elif media.url:
        file["file_url"] = media.url
    else:
        raise invalid_request("A file has no data, URL or file id.", param="input")
    if media.filename:
        file["filename"] = media.filename
    return with_extra(file, media.extra, same)
