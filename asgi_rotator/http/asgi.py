"""ASGI message helpers, so header and message keys are spelled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

from .. import _json
from ..errors import ClientDisconnected, GatewayError
from ..types import Receive, Scope, Send

JSON_HEADERS = [(b"content-type", b"application/json")]
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def relative_path(scope: Scope) -> str:
    """The request path relative to where the app is mounted.

    Starlette and FastAPI keep the full path and add the mount prefix to ``root_path``; Litestar strips the
    prefix from ``path`` and leaves ``root_path`` alone. Both come out the same here.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


def request_headers(scope: Scope) -> dict[str, str]:
    """The request headers, lower-cased names; a repeated header keeps its last value."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", ())}


async def body_chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, or a 413 once it grows past ``limit`` bytes."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError("payload_too_large", f"The request body is larger than {limit} bytes.")
        yield chunk
        if not message.get("more_body", False):
            return


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or a 413 once it grows past ``limit`` bytes."""
    return b"".join([chunk async for chunk in body_chunks(receive, limit)])


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs from text pairs. A value with anything but printable ASCII (a client-chosen model name
    in ``x-rotator-provider``, say) is percent-encoded, so no value can break or inject a header line."""
    return [(name.encode("latin-1"), _header_safe(value).encode("ascii")) for name, value in headers]


def _header_safe(value: str) -> str:
    if value.isascii() and value.isprintable() and value == value.strip():
        return value
    # HTTP allows no leading or trailing whitespace in a value either.
    return quote(value.strip(), safe=_PRINTABLE_ASCII) if value.strip() == value else quote(value, safe="")


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A complete response in two messages."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
    """A JSON response."""
    await send_bytes(send, status, _json.dumps(body), JSON_HEADERS + encode_headers(headers))
