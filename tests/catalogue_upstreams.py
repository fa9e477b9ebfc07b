"""Fake upstreams for the catalogue tests: model lists in the three real shapes (golden fixtures), by host.

``Hosts`` sends each upstream request to the app registered for its ``host`` header, so presets with their
real base URLs (``api.openai.com``...) reach loopback fakes through the gateway's ``upstream_transport`` seam.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from asgi_rotator.testing import FakeUpstream
from asgi_rotator.types import Receive, Scope, Send

from .golden import golden


@dataclass
class Seen:
    """One request a listing upstream received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


async def _respond(send: Send, status: int, body: Any) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@dataclass
class ListingUpstream:
    """Answers ``GET`` of a model list with real pages (``pages``, in order, by page token); everything else goes
    to a :class:`FakeUpstream`. ``fail`` makes the list answer 500."""

    pages: dict[str | None, dict[str, Any]]
    chat: FakeUpstream = field(default_factory=FakeUpstream)
    seen: list[Seen] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            await self.chat(scope, receive, send)
            return
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append(Seen("GET", scope["path"], query, headers))
        if self.fail:
            await _respond(send, 500, {"error": {"message": "listing is down", "type": "server_error"}})
            return
        token = query.get("pageToken") or query.get("after_id")
        await _respond(send, 200, self.pages[token])


class Hosts:
    """Routes each request to the app of its ``host`` header."""

    def __init__(self, **apps: Any) -> None:
        self.apps = {host.replace("_", "."): app for host, app in apps.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = dict(scope["headers"])[b"host"].decode().split(":")[0]
        await self.apps[host](scope, receive, send)


def openai_pages() -> dict[str | None, dict[str, Any]]:
    """OpenAI's one-page list (model-id-0, model-id-1, model-id-2)."""
    return {None: golden("models/openai_list")["body"]}


def anthropic_pages() -> dict[str | None, dict[str, Any]]:
    """Anthropic's real first page (has_more, last_id) and a last page after it."""
    first = golden("models/anthropic_list")["body"]
    last = copy.deepcopy(first)
    last["data"] = [{**first["data"][0], "id": "claude-opus-4-1-20250805", "display_name": "Claude Opus 4.1"}]
    last.update(has_more=False, first_id="claude-opus-4-1-20250805", last_id="claude-opus-4-1-20250805")
    return {None: first, first["last_id"]: last}


def gemini_pages() -> dict[str | None, dict[str, Any]]:
    """Gemini's real first page (nextPageToken) and a last page without a token."""
    first = golden("models/gemini_list")["body"]
    last = {"models": [{**first["models"][0], "name": "models/gemini-2.5-pro", "displayName": "Gemini 2.5 Pro"}]}
    return {None: first, first["nextPageToken"]: last}
