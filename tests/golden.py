"""Real provider answers, served verbatim: the upstream side of end-to-end tests that must not be built from this
package's own formatters (``FakeUpstream`` is, so a bug made the same way on both sides would pass there)."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from asgi_rotator.http.asgi import read_body
from asgi_rotator.types import Receive, Scope, Send

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"


def golden(name: str) -> dict[str, Any]:
    """A golden fixture by its path under ``tests/fixtures/golden`` (without ``.json``)."""
    fixture: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text())
    assert fixture["source"], f"{name} names no source"
    return fixture


class GoldenUpstream:
    """An ASGI upstream that answers each request with the next queued golden fixture, byte for byte, and keeps
    what it was sent (path, headers, JSON body)."""

    def __init__(self, *names: str) -> None:
        self.queue: deque[dict[str, Any]] = deque(golden(name) for name in names)
        self.requests: list[dict[str, Any]] = []

    def answer(self, *names: str) -> None:
        """Queue more answers."""
        self.queue.extend(golden(name) for name in names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive, limit=1 << 30)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": scope["path"], "headers": headers, "body": json.loads(body or b"{}")})
        fixture = self.queue.popleft()
        payload = fixture["sse"].encode() if "sse" in fixture else json.dumps(fixture["body"]).encode()
        content_type = "text/event-stream" if "sse" in fixture else "application/json"
        answer_headers = {"content-type": content_type, **fixture.get("headers", {})}
        await send(
            {
                "type": "http.response.start",
                "status": fixture["status"],
                "headers": [(k.encode(), str(v).encode()) for k, v in answer_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})
