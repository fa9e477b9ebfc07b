"""Anthropic content blocks: parse them into unified parts and build them back.

Keys of a block that have no unified form (``cache_control``, ``citations``, a document's ``context`` ...) ride
in the part's ``extra`` and are replayed only when the request came in on this protocol.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

from ... import _json
from ...errors import invalid_request
from .._common import expect, optional, parse_arguments, require
from ..unified import Family, Media, Opaque, Part, Reasoning, Text, ToolCall, ToolResult

FAMILY: Family = "anthropic"
PROTOCOL = "anthropic_messages"
TEXT_DOCUMENT = "text/plain"
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_TEXT_KEYS = frozenset({"type", "text"})
_MEDIA_KEYS = frozenset({"type", "source", "title"})
_TOOL_USE_KEYS = frozenset({"type", "id", "name", "input"})
_TOOL_RESULT_KEYS = frozenset({"type", "tool_use_id", "content", "is_error"})
#: The block types each role may hold (``tool_result`` content is a role of its own here).
_ROLE_BLOCKS = {
    "user": frozenset({"text", "image", "document", "tool_result"}),
    "assistant": frozenset({"text", "thinking", "redacted_thinking", "tool_use"}),
    "tool_result": frozenset({"text", "image", "document"}),
}
_MODELLED = frozenset().union(*_ROLE_BLOCKS.values())


def _extra(raw: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    extra = {k: v for k, v in raw.items() if k not in known}
    return extra or None


# -- parse -------------------------------------------------------------------------------------------------


def parse_content(content: Any, where: str, role: str) -> list[Part]:
    """The parts of a message's ``content`` (a string or a list of blocks), checked for ``role``."""
    if isinstance(content, str):
        return [Text(content)]
    parts: list[Part] = []
    for j, raw in enumerate(expect(content, list, where)):
        parts.append(parse_block(expect(raw, dict, f"{where}[{j}]"), f"{where}[{j}]", role))
    return parts


def parse_block(raw: dict[str, Any], where: str, role: str) -> Part:
    """One content block; a modelled block the role cannot hold is a 400.

    Blocks the gateway does not model (``server_tool_use``, ``web_search_tool_result``, ``mcp_tool_use`` ...)
    are kept whole, for an Anthropic provider to get back as sent.
    """
    kind = require(raw, "type", str, f"{where}.")
    if kind not in _MODELLED and role in ("user", "assistant"):
        return Opaque(PROTOCOL, raw)
    allowed = _ROLE_BLOCKS.get(role, frozenset({"text"}))
    if kind not in allowed:
        raise invalid_request(f"Unsupported content block type {kind!r} in '{where}' for role {role!r}.", param=where)
    if kind == "text":
        return Text(require(raw, "text", str, f"{where}."), extra=_extra(raw, _TEXT_KEYS))
    if kind in ("image", "document"):
        return parse_media(raw, where)
    if kind == "thinking":
        signature = optional(raw, "signature", str, f"{where}.") or None
        return Reasoning(
            require(raw, "thinking", str, f"{where}."),
            signature=signature,
            signature_family=FAMILY if signature else None,
        )
    if kind == "redacted_thinking":
        return Reasoning(redacted=require(raw, "data", str, f"{where}."), signature_family=FAMILY)
    if kind == "tool_use":
        return ToolCall(
            require(raw, "id", str, f"{where}."),
            require(raw, "name", str, f"{where}."),
            _json.dumps_str(require(raw, "input", dict, f"{where}.")),
            extra=_extra(raw, _TOOL_USE_KEYS),
        )
    return _parse_tool_result(raw, where)


def parse_media(raw: dict[str, Any], where: str) -> Media:
    """An ``image`` or ``document`` block. A plain-text document becomes base64 ``text/plain`` data."""
    kind: Literal["image", "document"] = "image" if raw["type"] == "image" else "document"
    source = require(raw, "source", dict, f"{where}.")
    source_type = require(source, "type", str, f"{where}.source.")
    at = f"{where}.source."
    media = Media(kind, filename=optional(raw, "title", str, f"{where}."), extra=_extra(raw, _MEDIA_KEYS))
    if source_type == "base64":
        media.media_type = require(source, "media_type", str, at)
        media.data = require(source, "data", str, at)
    elif source_type == "url":
        media.url = require(source, "url", str, at)
        # A document URL source is a PDF by definition.
        media.media_type = "application/pdf" if kind == "document" else None
    elif source_type == "file":
        media.file_id = require(source, "file_id", str, at)
    elif source_type == "text" and kind == "document":
        media.media_type = TEXT_DOCUMENT
        media.data = base64.b64encode(require(source, "data", str, at).encode()).decode()
    else:
        raise invalid_request(f"Unsupported {kind} source type {source_type!r} in '{where}.source'.", param=at)
    return media


def _parse_tool_result(raw: dict[str, Any], where: str) -> ToolResult:
    content = raw.get("content")
    parts = [] if content is None else parse_content(content, f"{where}.content", "tool_result")
    return ToolResult(
        require(raw, "tool_use_id", str, f"{where}."),
        [p for p in parts if isinstance(p, Text | Media)],
        is_error=bool(optional(raw, "is_error", bool, f"{where}.")),
        extra=_extra(raw, _TOOL_RESULT_KEYS),
    )


# -- build -------------------------------------------------------------------------------------------------


def tool_id(call_id: str) -> str:
    """A tool-use id Anthropic accepts (``^[a-zA-Z0-9_-]+$``); the same mapping for calls and their results."""
    return _ID_UNSAFE.sub("_", call_id) or "toolu_empty"


def _with_extra(block: dict[str, Any], extra: dict[str, Any] | None, same: bool) -> dict[str, Any]:
    if same and extra:
        block.update((k, v) for k, v in extra.items() if k not in block)
    return block


def build_text(part: Text, same: bool) -> dict[str, Any]:
    """A ``text`` block."""
    return _with_extra({"type": "text", "text": part.text}, part.extra, same)


def build_media(media: Media, same: bool, where: str) -> dict[str, Any]:
    """An ``image`` or ``document`` block, by base64, URL or file id.

    Raises:
        GatewayError: for media Anthropic cannot take (audio, other document types): sending the request
            without it would change its meaning.
    """
    mime = media.media_type or ""
    image = media.kind == "image" or mime.startswith("image/")
    source: dict[str, Any]
    if media.file_id is not None and media.data is None and media.url is None:
        source = {"type": "file", "file_id": media.file_id}
    elif media.kind == "audio" or mime.startswith(("audio/", "video/")):
        raise invalid_request(f"Anthropic Messages cannot take audio or video ('{where}').", param=where)
    elif media.data is not None and image:
        if not mime:
            raise invalid_request(f"Inline image in '{where}' needs a media type.", param=where)
        source = {"type": "base64", "media_type": mime, "data": media.data}
    elif media.data is not None and mime == TEXT_DOCUMENT:
        source = {"type": "text", "media_type": TEXT_DOCUMENT, "data": _decode_text(media.data, where)}
    elif media.data is not None and mime == "application/pdf":
        source = {"type": "base64", "media_type": mime, "data": media.data}
    elif media.url is not None and (image or mime in ("", "application/pdf")):
        source = {"type": "url", "url": media.url}
    else:
        raise invalid_request(
            f"Anthropic Messages takes images, PDF and plain-text documents only ({mime or 'unknown type'} in "
            f"'{where}').",
            param=where,
        )
    block: dict[str, Any] = {"type": "image" if image else "document", "source": source}
    if not image and media.filename:
        block["title"] = media.filename
    return _with_extra(block, media.extra, same)


def _decode_text(data: str, where: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_request(f"The plain-text document in '{where}' is not base64 UTF-8 text.", param=where) from None


def build_reasoning(part: Reasoning) -> dict[str, Any] | None:
    """A ``thinking`` or ``redacted_thinking`` block, only for state Anthropic minted.

    Thinking text without an Anthropic signature cannot be sent: the API rejects unsigned thinking, and the
    gateway re-injects the stored Anthropic block itself.
    """
    if part.signature_family != FAMILY:
        return None
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.redacted}
    if part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None


def build_tool_use(call: ToolCall, same: bool, where: str) -> dict[str, Any]:
    """A ``tool_use`` block; its arguments must be a JSON object."""
    arguments = parse_arguments(call.arguments, where=where)
    block = {"type": "tool_use", "id": tool_id(call.id), "name": call.name, "input": arguments}
    return _with_extra(block, call.extra, same)


def build_tool_result(result: ToolResult, same: bool, where: str) -> dict[str, Any]:
    """A ``tool_result`` block; ``is_error`` is kept, media in the result become image/document blocks."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(result.tool_call_id)}
    content: list[dict[str, Any]] = []
    for k, part in enumerate(result.content):
        if isinstance(part, Text):
            if part.text:
                content.append(build_text(part, same))
        else:
            content.append(build_media(part, same, f"{where}.content[{k}]"))
    if len(content) == 1 and content[0].keys() == {"type", "text"}:
        block["content"] = content[0]["text"]
    elif content:
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    return _with_extra(block, result.extra, same)
