"""Stored responses: retrieve, delete and list the input items of a response, in OpenAI's shapes."""

from __future__ import annotations

from ..errors import GatewayError, invalid_request
from ..http.asgi import send_json
from ..responses_api.store import ResponseStore
from ..types import Send
from .base import Request


class StoredResponses:
    """``GET``/``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items``, owner-checked.

    Args:
        store: where responses are kept.
    """

    def __init__(self, store: ResponseStore) -> None:
        self._store = store

    async def retrieve(self, request: Request, send: Send) -> None:
        """``GET /v1/responses/{id}``."""
        stored = await self._store.get(_response_id(request), request.caller)
        await send_json(send, 200, stored.response)

    async def delete(self, request: Request, send: Send) -> None:
        """``DELETE /v1/responses/{id}``."""
        response_id = _response_id(request)
        await self._store.delete(response_id, request.caller)
        await send_json(send, 200, {"id": response_id, "object": "response.deleted", "deleted": True})

    async def input_items(self, request: Request, send: Send) -> None:
        """``GET /v1/responses/{id}/input_items`` with ``limit`` (1-100, default 20), ``order`` (``desc`` by
        default), and the ``after``/``before`` cursors."""
        params = request.query()
        try:
            limit = int(params.get("limit", 20))
        except ValueError:
            raise invalid_request("Query parameter 'limit' must be an integer.", param="limit") from None
        if not 1 <= limit <= 100:
            raise invalid_request("Query parameter 'limit' must be between 1 and 100.", param="limit")
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid_request("Query parameter 'order' must be 'asc' or 'desc'.", param="order")
        items = list((await self._store.get(_response_id(request), request.caller)).input_items)
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
        await send_json(
            send,
            200,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(items) > limit,
            },
        )


def _response_id(request: Request) -> str:
    response_id = request.route.item_id
    assert response_id is not None  # the route table only matches these paths with an id
    return response_id
