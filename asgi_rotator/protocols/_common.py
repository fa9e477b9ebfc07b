"""Small helpers shared by the protocol modules."""

from __future__ import annotations

import secrets
import time
from typing import Any

from .. import _json
from ..errors import UpstreamError, invalid_request
from .unified import ConversionWarning, Media, Message, Opaque, UnifiedRequest


def new_id(prefix: str) -> str:
    """A fresh random id such as ``resp_3f9c...`` (96 random bits); the gateway never reuses an upstream's id."""
    return prefix + secrets.token_hex(12)


def now() -> int:
    """Unix time in whole seconds, as the protocols' ``created`` fields want it."""
    return int(time.time())


def require(body: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """The value of a required field, or a 400 naming it."""
    name = f"{where}{key}"
    if key not in body:
        raise invalid_request(f"Missing required field '{name}'.", param=name)
    return expect(body[key], kind, name)


def optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """The value of an optional field (None when absent or null), or a 400 when it has the wrong type."""
    value = body.get(key)
    if value is None:
        return None
    return expect(value, kind, f"{where}{key}")


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


def expect(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    """``value`` if it is of ``kind`` (bools are not numbers), else a 400 naming the field."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and int not in kinds:
        kinds = (*kinds, int)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds if k is not int or float not in kinds)
        raise invalid_request(f"Field '{name}' must be {wanted}.", param=name)
    return value


def parse_arguments(arguments: str, *, where: str) -> dict[str, Any]:
    """Tool-call arguments as an object, for protocols that carry them as JSON objects.

    Raises a 400 when the text is not a JSON object: sending a guess would change the call's meaning.
    """
    if not arguments or arguments.isspace():
        return {}
    try:
        value = _json.loads(arguments)
    except _json.JSONDecodeError:
        raise invalid_request(f"Tool call arguments in '{where}' are not valid JSON.", param=where) from None
    if not isinstance(value, dict):
        raise invalid_request(f"Tool call arguments in '{where}' must be a JSON object.", param=where)
    return value


def parse_data_url(url: str) -> tuple[str | None, str] | None:
    """``(media_type, base64 data)`` for a ``data:`` URL, or None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if encoding != "base64":
        raise invalid_request("Only base64 data URLs are supported for inline media.")
    return media_type or None, data


def data_url(media: Media) -> str:
    """A ``data:`` URL for inline media, or the media's own URL."""
    if media.data is not None:
        return f"data:{media.media_type or 'application/octet-stream'};base64,{media.data}"
    return media.url or ""


def upstream_invalid(protocol: str, detail: str) -> UpstreamError:
    """A 502 for an upstream answer that is not valid for its protocol."""
    return UpstreamError("upstream_invalid", f"The upstream returned an invalid {protocol} response: {detail}")


def without_foreign_opaque(request: UnifiedRequest, target: str) -> list[Message]:
    """``request.messages`` without the opaque history of protocols other than ``target``.

    Each dropped block or item is recorded as a warning; a message left with no parts is dropped with it.
    """
    if not any(isinstance(p, Opaque) and p.protocol != target for m in request.messages for p in m.parts):
        return request.messages
    messages: list[Message] = []
    for i, message in enumerate(request.messages):
        kept = [p for p in message.parts if not isinstance(p, Opaque) or p.protocol == target]
        for part in message.parts:
            if isinstance(part, Opaque) and part.protocol != target:
                kind = part.data.get("type") or next(iter(part.data), None)  # Gemini parts name their kind by key
                request.warnings.append(
                    ConversionWarning(
                        "dropped_history",
                        f"The {part.protocol} history entry {kind!r} has no {target} form; it was dropped.",
                        f"messages[{i}]",
                        request.source_protocol,
                        target,
                    )
                )
        if kept:
            messages.append(Message(message.role, kept, message.name, message.extra))
    return messages
