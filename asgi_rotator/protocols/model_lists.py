"""The three shapes of an upstream's model list: OpenAI, Anthropic and Gemini. Pure: requests out, ids in.

OpenAI     GET {base}/models                                  {"data": [{"id"}]}             one page
Anthropic  GET {base}/v1/models?limit=1000&after_id=<last>    {"data", "has_more", "last_id"} paged
Gemini     GET {base}/v1beta/models?pageSize=1000&pageToken=  {"models": [{"name"}], "nextPageToken"}
"""

from __future__ import annotations

from typing import Any

from ._common import upstream_invalid
from .base import NativeRequest

#: One page of a model list: the ids on it, and the token of the next page (None on the last).
Page = tuple[list[str], str | None]


def openai_request(page_token: str | None) -> NativeRequest:
    """``GET /models`` (OpenAI lists every model on one page)."""
    return NativeRequest("/models", {}, method="GET")


def openai_page(body: Any) -> Page:
    """Ids from an OpenAI ``list`` object."""
    return _ids(body, "data", "id", "openai"), None


def anthropic_request(page_token: str | None, version: str) -> NativeRequest:
    """``GET /v1/models``, paged by ``after_id``."""
    query = {"limit": "1000", **({"after_id": page_token} if page_token else {})}
    return NativeRequest("/v1/models", {}, headers={"anthropic-version": version}, query=query, method="GET")


def anthropic_page(body: Any) -> Page:
    """Ids from an Anthropic model page; the next page starts after its ``last_id`` while ``has_more``."""
    ids = _ids(body, "data", "id", "anthropic")
    last = body.get("last_id")
    return ids, (str(last) if body.get("has_more") and last else None)


def gemini_request(page_token: str | None) -> NativeRequest:
    """``GET /v1beta/models``, paged by ``pageToken``."""
    query = {"pageSize": "1000", **({"pageToken": page_token} if page_token else {})}
    return NativeRequest("/v1beta/models", {}, query=query, method="GET")


def gemini_page(body: Any) -> Page:
    """Ids (``models/`` stripped) from a Gemini ``ListModelsResponse``."""
    ids = [name.removeprefix("models/") for name in _ids(body, "models", "name", "gemini")]
    token = body.get("nextPageToken")
    return ids, (str(token) if token else None)


def _ids(body: Any, container: str, field: str, shape: str) -> list[str]:
    items = body.get(container) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise upstream_invalid(shape, f"a model list needs a {container!r} array")
    return [item[field] for item in items if isinstance(item, dict) and isinstance(item.get(field), str)]
