"""A hostile upstream: a raw asyncio HTTP/1.1 server on loopback that answers with whatever bytes a test
scripts, faults included (resets, bad headers, endless or dripping bodies, bad compression), so the gateway's
real HTTP client meets them exactly as it would meet a misbehaving provider."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(status: int, body: bytes | dict[str, Any] | list[Any], headers: dict[str, str] | None = None) -> Answer:
    """A complete answer; dicts and lists are sent as JSON."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", "content-length": str(len(raw)), **(headers or {})}

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(status, all_headers) + raw)

    return answer


def stream(sse: str | bytes, *, then: str = "end", gzipped: bool = False, cut_at: int | None = None) -> Answer:
    """An SSE answer sent in small pieces; ``then`` is how the connection ends: ``end`` (close cleanly),
    ``reset`` (a TCP reset after ``cut_at`` bytes, or after everything)."""
    raw = sse.encode() if isinstance(sse, str) else sse
    if gzipped:
        raw = gzip.compress(raw)
    headers = {"content-type": "text/event-stream", "connection": "close"}
    if gzipped:
        headers["content-encoding"] = "gzip"

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, headers))
        body = raw if cut_at is None else raw[:cut_at]
        for i in range(0, len(body), 97):
            writer.write(body[i : i + 97])
            await writer.drain()
            await asyncio.sleep(0)
        if then == "reset":
            writer.transport.abort()

    return answer


def raw_bytes(data: bytes, *, reset: bool = False) -> Answer:
    """Exactly ``data`` on the wire (a malformed status line or headers, say), then close or reset."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if reset:
            writer.transport.abort()

    return answer


def drip(body: bytes, *, every: float) -> Answer:
    """A complete JSON answer sent one byte every ``every`` seconds (each byte resets a read timeout)."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, {"content-type": "application/json", "content-length": str(len(body))}))
        for byte in body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)

    return answer


def endless(*, chunk: bytes, content_type: str = "application/json", limit: int = 512 * 1024 * 1024) -> Answer:
    """A chunked body that keeps coming (up to ``limit`` bytes, so the test machine is safe either way)."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, {"content-type": content_type, "transfer-encoding": "chunked"}))
        sent = 0
        while sent < limit:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            await writer.drain()

    return answer


class HostileUpstream:
    """Serves scripted answers: per presented key a queue, else the default. Every request is recorded."""

    def __init__(self, default: Answer) -> None:
        self.default = default
        self.by_key: dict[str, deque[Answer]] = defaultdict(deque)
        self.requests: list[dict[str, Any]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on_key(self, key: str, *answers: Answer) -> None:
        """Answer the next requests made with ``key`` with ``answers``, in order (then the default)."""
        self.by_key[key].extend(answers)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            key = _presented_key(headers)
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body, "key": key})
            queue = self.by_key.get(key or "")
            answer = queue.popleft() if queue else self.default
            await answer(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)


def _presented_key(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:]
    return headers.get("x-api-key") or headers.get("x-goog-api-key")
