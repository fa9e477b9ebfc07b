"""Reasoning continuity for clients whose protocol cannot carry a provider's state.

A client of the provider's own family gets the state (Anthropic signed ``thinking`` and
``redacted_thinking``, Gemini ``thoughtSignature``, Responses ``encrypted_content``) exactly as its
protocol carries it, and sends it back itself. Any other client cannot, so the gateway keeps the state
server-side, scoped to provider + model + credential + session, and puts it back on the next turn:

    gemini_thought_signatures      each function call's signature, keyed by its tool-call id
    anthropic_thinking_blocks      the whole signed thinking of a turn with tool calls, keyed by its first call
    responses_encrypted_reasoning  OpenAI's encrypted reasoning items, likewise

State never crosses provider families: it is injected only into requests for a provider of the family that
minted it, and each builder drops any other family's state anyway.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import _json
from ..protocols.unified import Family, Message, Reasoning, ToolCall, UnifiedRequest, UnifiedResponse
from ..state.base import StateBackend, WriteOp

#: The built-in rules by provider family: (rule name, what it keeps).
RULES: dict[str, str] = {
    "gemini": "gemini_thought_signatures",
    "anthropic": "anthropic_thinking_blocks",
    "openai": "responses_encrypted_reasoning",
}


#: Which family's state each client protocol can carry itself (OpenAI Chat carries none).
CARRIED_BY = {"anthropic_messages": "anthropic", "gemini": "gemini", "openai_responses": "openai"}


def client_carries(client_protocol: str, family: str) -> bool:
    """True when a client of ``client_protocol`` gets ``family``'s state and sends it back itself."""
    return CARRIED_BY.get(client_protocol) == family


class ProviderState:
    """Stores and re-injects provider state through the state backend (shared by replicas)."""

    def __init__(self, backend: StateBackend, *, prefix: str, ttl: float = 3600.0) -> None:
        self._backend = backend
        self._prefix = f"{prefix}pstate:"
        self._ttl = ttl

    def _key(self, family: str, scope: tuple[str, str, str, str], call_id: str) -> str:
        digest = hashlib.sha256("\x1f".join((*scope, call_id)).encode()).hexdigest()[:32]
        return f"{self._prefix}{RULES[family]}:{digest}"

    async def remember(
        self, family: Family, client_protocol: str, scope: tuple[str, str, str, str], response: UnifiedResponse
    ) -> None:
        """Keep ``response``'s provider state when the client cannot carry it.

        ``scope`` is (provider, model, credential id, session).
        """
        if client_carries(client_protocol, family) or family not in RULES:
            return
        calls = response.tool_calls
        if not calls:
            return
        ops: list[WriteOp] = []
        if family == "gemini":
            ops += [
                ("set", self._key(family, scope, c.id), c.signature.encode(), self._ttl)
                for c in calls
                if c.signature and c.signature_family == "gemini"
            ]
        else:
            blocks = [
                {"text": p.text, "signature": p.signature, "redacted": p.redacted, "item_id": p.item_id}
                for p in response.parts
                if isinstance(p, Reasoning) and p.signature_family == family and (p.signature or p.redacted)
            ]
            if blocks:
                ops.append(("set", self._key(family, scope, calls[0].id), _json.dumps(blocks), self._ttl))
        if ops:
            await self._backend.write_many(ops)

    async def inject(self, family: Family, scope: tuple[str, str, str, str], request: UnifiedRequest) -> None:
        """Put kept state back on the assistant turns of ``request`` that lack it."""
        if client_carries(request.source_protocol, family) or family not in RULES:
            return
        wanted: list[tuple[Message, ToolCall]] = []
        for message in request.messages:
            if message.role != "assistant":
                continue
            calls = [p for p in message.parts if isinstance(p, ToolCall)]
            if not calls:
                continue
            if family == "gemini":
                wanted += [(message, c) for c in calls if not (c.signature and c.signature_family == "gemini")]
            elif not any(isinstance(p, Reasoning) and p.signature_family == family for p in message.parts):
                wanted.append((message, calls[0]))
        if not wanted:
            return
        values = await self._backend.get_many([self._key(family, scope, call.id) for _, call in wanted])
        for (message, call), value in zip(wanted, values, strict=True):
            if value is None:
                continue
            if family == "gemini":
                call.signature, call.signature_family = value.decode(), "gemini"
            else:
                message.parts[:0] = [_block(b, family) for b in _json.loads(value)]


def _block(stored: dict[str, Any], family: Family) -> Reasoning:
    return Reasoning(
        stored["text"],
        signature=stored["signature"],
        redacted=stored["redacted"],
        item_id=stored.get("item_id"),
        signature_family=family,
    )
