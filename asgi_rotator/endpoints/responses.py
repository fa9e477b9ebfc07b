"""Stored responses: retrieve, delete and list the input items of a response, in OpenAI's shapes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from ..errors import GatewayError, invalid_request
from ..http.auth import Client
from ..responses_api.store import ResponseStore


async def retrieve(store: ResponseStore, response_id: str, client: Client) -> dict[str, Any]:
    """``GET /v1/responses/{id}``."""
    return (await store.get(response_id, client)).response


async def delete(store: ResponseStore, response_id: str, client: Client) -> dict[str, Any]:
    """``DELETE /v1/responses/{id}``."""
    await store.delete(response_id, client)
    return {"id": response_id, "object": "response.deleted", "deleted": True}


async def input_items(store: ResponseStore, response_id: str, client: Client, query: bytes) -> dict[str, Any]:
    """``GET /v1/responses/{id}/input_items`` with ``limit`` (1-100, default 20), ``order`` (``desc`` by
    default), and the ``after``/``before`` cursors."""
    params = {k: v[-1] for k, v in parse_qs(query.decode("latin-1")).items()}
    try:
        limit = int(params.get("limit", 20))
    except ValueError:
        raise invalid_request("Query parameter 'limit' must be an integer.", param="limit") from None
    if not 1 <= limit <= 100:
        raise invalid_request("Query parameter 'limit' must be between 1 and 100.", param="limit")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_request("Query parameter 'order' must be 'asc' or 'desc'.", param="order")
    items = list((await store.get(response_id, client)).input_items)
    if order == "desc":
        items.reverse()
    ids = [item["id"] for item in items]
    for cursor, keep_after in (("after", True), ("before", False)):
        if cursor in params:
            if params[cursor] not in ids:
                raise GatewayError("not_found", f"No input item '{params[cursor]}' in this response.", param=cursor)
            at = ids.index(params[cursor])
            items, ids = (items[at + 1 :], ids[at + 1 :]) if keep_after else (items[:at], ids[:at])
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
