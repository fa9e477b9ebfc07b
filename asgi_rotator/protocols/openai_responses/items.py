"""Responses API items (messages, function calls and outputs, reasoning) to unified messages and back.

Input items and output items share these shapes, which is what lets a stored response's output be replayed
as the next request's input.
"""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import invalid_request
from .._common import data_url, expect, optional, parse_data_url, require
from ..unified import Media, Message, Part, Reasoning, Text, ToolCall, ToolResult

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})


def parse_input(raw: Any) -> list[Message]:
    """The ``input`` field (a string or a list of items) as unified messages."""
    if isinstance(raw, str):
        return [Message("user", [Text(raw)])]
    messages: list[Message] = []
    for i, item in enumerate(expect(raw, list, "input")):
        where = f"input[{i}]"
        item = expect(item, dict, where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = require(item, "role", str, f"{where}.")
            if role not in ("user", "assistant", "system", "developer"):
                raise invalid_request(
                    f"Field '{where}.role' must be user, assistant, system or developer.", param=f"{where}.role"
                )
            _append(messages, role, _content(item.get("content"), f"{where}.content"))
        elif kind == "function_call":
            arguments = item.get("arguments", "{}")
            if isinstance(arguments, dict):
                arguments = _json.dumps_str(arguments)
            call = ToolCall(
                require(item, "call_id", str, f"{where}."),
                require(item, "name", str, f"{where}."),
                expect(arguments, str, f"{where}.arguments") or "{}",
            )
            _append(messages, "assistant", [call])
        elif kind == "function_call_output":
            output = item.get("output", "")
            content = [Text(output)] if isinstance(output, str) else _content(output, f"{where}.output")
            result = ToolResult(
                require(item, "call_id", str, f"{where}."), [p for p in content if isinstance(p, Text | Media)]
            )
            _append(messages, "tool", [result])
        elif kind == "reasoning":
            summary = "".join(s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict))
            encrypted = optional(item, "encrypted_content", str, f"{where}.")
            _append(
                messages,
                "assistant",
                [
                    Reasoning(
                        summary,
                        redacted=encrypted,
                        item_id=item.get("id"),
                        signature_family="openai" if encrypted else None,
                    )
                ],
            )
        else:
            raise invalid_request(f"Unsupported input item type {kind!r} in '{where}'.", param=f"{where}.type")
    return messages


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
        part_where = f"{where}[{j}]"
        part = expect(part, dict, part_where)
        kind = require(part, "type", str, f"{part_where}.")
        if kind in _TEXT_PARTS:
            parts.append(Text(require(part, "text", str, f"{part_where}.")))
        elif kind == "refusal":
            parts.append(Text(require(part, "refusal", str, f"{part_where}.")))
        elif kind == "input_image":
            url = optional(part, "image_url", str, f"{part_where}.")
            inline = parse_data_url(url) if url else None
            parts.append(
                Media(
                    "image",
                    media_type=inline[0] if inline else None,
                    data=inline[1] if inline else None,
                    url=None if inline else url,
                    file_id=optional(part, "file_id", str),
                    detail=optional(part, "detail", str),
                )
            )
        elif kind == "input_file":
            file_data = optional(part, "file_data", str, f"{part_where}.")
            inline = parse_data_url(file_data) if file_data else None
            parts.append(
                Media(
                    "document" if inline and inline[0] == "application/pdf" else "file",
                    media_type=inline[0] if inline else None,
                    data=inline[1] if inline else None,
                    url=optional(part, "file_url", str),
                    file_id=optional(part, "file_id", str),
                    filename=optional(part, "filename", str),
                )
            )
        else:
            raise invalid_request(f"Unsupported content part type {kind!r} in '{part_where}'.", param=part_where)
    return parts


def build_input(messages: list[Message]) -> list[dict[str, Any]]:
    """Unified messages as Responses input items (system messages are the caller's business)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            items += _assistant_items(message.parts)
            continue
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ToolResult):
                items.append(_function_output(part))
            elif isinstance(part, Text):
                content.append({"type": "input_text", "text": part.text})
            elif isinstance(part, Media):
                content.append(_media(part))
        if content:
            items.append(
                {"type": "message", "role": message.role if message.role != "tool" else "user", "content": content}
            )
    return items


def _assistant_items(parts: list[Part]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            if items and items[-1].get("type") == "message":
                items[-1]["content"].append({"type": "output_text", "text": part.text, "annotations": []})
            else:
                items.append(
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": part.text, "annotations": []}],
                    }
                )
        elif isinstance(part, ToolCall):
            items.append({"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments})
        elif isinstance(part, Reasoning) and part.signature_family == "openai" and part.redacted:
            # Only OpenAI's own encrypted reasoning can go back to it; other families' state never crosses.
            item: dict[str, Any] = {
                "type": "reasoning",
                "encrypted_content": part.redacted,
                "summary": [{"type": "summary_text", "text": part.text}] if part.text else [],
            }
            if part.item_id:
                item["id"] = part.item_id
            items.append(item)
    return items


def _function_output(result: ToolResult) -> dict[str, Any]:
    text = "".join(p.text for p in result.content if isinstance(p, Text))
    if any(isinstance(p, Media) for p in result.content):
        output: Any = [
            {"type": "input_text", "text": p.text} if isinstance(p, Text) else _media(p) for p in result.content
        ]
    else:
        # The Responses API has no error flag on tool outputs: say it in the output rather than lose it.
        output = f"Error: {text}" if result.is_error else text
    return {"type": "function_call_output", "call_id": result.tool_call_id, "output": output}


def _media(media: Media) -> dict[str, Any]:
    if media.kind == "image":
        image: dict[str, Any] = {"type": "input_image", "detail": media.detail or "auto"}
        if media.file_id:
            image["file_id"] = media.file_id
        else:
            image["image_url"] = data_url(media)
        return image
    file: dict[str, Any] = {"type": "input_file"}
    if media.file_id:
        file["file_id"] = media.file_id
    elif media.data is not None:
        file["file_data"] = data_url(media)
    elif media.url:
        file["file_url"] = media.url
    if media.filename:
        file["filename"] = media.filename
    return file
