"""Responses API state around generation: replay a ``previous_response_id`` lineage, store what comes back.

Continuations work for every provider the same way: the stored lineage (each ancestor's input items and
output items: messages, tool calls, tool outputs, reasoning) is replayed into the request, which then goes
to whatever provider protocol the target speaks. The upstream is never also asked to chain by id, so
history is sent exactly once. ``instructions`` are not inherited, as in OpenAI's API.
"""

from __future__ import annotations

from typing import Any

from ..caller import Caller
from ..config.models import ResponsesConfig
from ..errors import invalid_request
from ..protocols._common import new_id
from ..protocols.base import WireProtocol
from ..protocols.unified import UnifiedRequest
from ..state.base import WriteOp
from .store import ResponseStore, StoredResponse, owner_of

_ITEM_PREFIXES = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}


class ResponsesService:
    """Lineage expansion and storage for the ``openai_responses`` client protocol."""

    def __init__(self, store: ResponseStore, config: ResponsesConfig, protocol: WireProtocol) -> None:
        self.store = store
        self._config = config
        #: The Responses protocol, which reads stored items back as history.
        self._protocol = protocol

    async def expand(
        self, request: UnifiedRequest, caller: Caller, *, unstored: StoredResponse | None = None
    ) -> str | None:
        """Put the lineage of ``request.previous_response_id`` in front of the request's own input, and return
        the session the previous response was answered in (the continuation belongs to it).

        ``unstored`` is a ``store: false`` response that may still be continued (on the same WebSocket).
        """
        previous = request.previous_response_id
        if not previous:
            return None
        if unstored is not None and unstored.id == previous:
            parent = unstored.previous_response_id
            chain = [*(await self.store.lineage(parent, caller) if parent else []), unstored]
        else:
            chain = await self.store.lineage(previous, caller)
        history = []
        for stored in chain:
            items = stored.input_items + stored.output_items
            history += self._protocol.parse_request({"model": request.model, "input": items}).messages
        lead = 0
        while lead < len(request.messages) and request.messages[lead].role in ("system", "developer"):
            lead += 1
        request.messages[lead:lead] = history
        request.history_expanded = True
        return chain[-1].session if chain else None

    async def resolve_references(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """``body`` with each ``item_reference`` input item replaced by the stored item it names.

        An item can be referenced from the lineage of the request's ``previous_response_id`` (the items the
        gateway stored: each response's input and output items).

        Raises:
            GatewayError: 400 naming the reference when no such item is stored for the caller.
        """
        items = body.get("input")
        if not isinstance(items, list) or not any(_is_reference(item) for item in items):
            return body
        previous = body.get("previous_response_id")
        chain = await self.store.lineage(previous, caller) if isinstance(previous, str) and previous else []
        stored = {item.get("id"): item for r in chain for item in r.input_items + r.output_items}
        resolved = []
        for i, item in enumerate(items):
            if not _is_reference(item):
                resolved.append(item)
            elif item.get("id") in stored:
                resolved.append(stored[item["id"]])
            else:
                raise invalid_request(
                    f"Item reference {item.get('id')!r} in 'input[{i}]' names no item stored in the lineage of "
                    "previous_response_id.",
                    param=f"input[{i}].id",
                )
        return {**body, "input": resolved}

    def stored(
        self,
        request: UnifiedRequest,
        response: dict[str, Any],
        caller: Caller,
        session: str | None,
        *,
        unstored: StoredResponse | None = None,
    ) -> StoredResponse:
        """The record of ``response`` (the body the client got) for storage or for WebSocket continuation.

        A response that continues ``unstored`` (a ``store: false`` or warm-up response that lives only on its
        WebSocket) takes that response's items into its own input, so its lineage never names it.
        """
        record = StoredResponse(
            id=response["id"],
            owner=owner_of(caller, self._config),
            response=response,
            input_items=input_items(request.raw.get("input")),
            previous_response_id=request.previous_response_id,
            session=session,
        )
        if unstored is not None and request.previous_response_id == unstored.id:
            record.input_items = unstored.input_items + unstored.output_items + record.input_items
            record.previous_response_id = unstored.previous_response_id
        return record

    async def check_room(self, request: UnifiedRequest, caller: Caller) -> None:
        """Refuse a request whose answer would be stored beyond its owner's byte limit (see the store)."""
        if request.store is not False and not self._config.shared:
            await self.store.check_room(owner_of(caller, self._config))

    def save_ops(self, record: StoredResponse, request: UnifiedRequest) -> list[WriteOp]:
        """The writes that persist ``record``, unless the client said ``store: false``."""
        return self.store.put_ops(record) if request.store is not False else []


def _is_reference(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "item_reference"


def input_items(raw: Any) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items, each with an id (``input_items`` lists them by id)."""
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw}]}]
    items: list[dict[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or ("message" if "role" in item else "item")
        identity = {"id": item.get("id") or new_id(_ITEM_PREFIXES.get(kind, "item_")), "type": kind}
        if kind == "message" and isinstance(item.get("content"), str):
            # input_items lists content as parts, as OpenAI does, whatever form the client sent.
            text_type = "output_text" if item.get("role") == "assistant" else "input_text"
            identity["content"] = [{"type": text_type, "text": item["content"]}]
        items.append({**item, **identity})
    return items
