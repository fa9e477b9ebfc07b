"""Session identity: which requests belong to one conversation, so that it stays on one credential.

Explicit ids win: an ``x-session-id`` header, then the session of the Responses answer a
``previous_response_id`` continues, then Anthropic ``metadata.user_id``, OpenAI ``prompt_cache_key`` or
``user``. Without one, the evidence is what the gateway itself
answered: when a conversation carries an assistant turn or a tool call id the gateway returned, it continues
the session that turn was answered in. That also holds after compaction, as long as the summary keeps some
of the recent turns. Weak evidence (the first user message alone) never continues a session: otherwise
every repeated one-turn prompt would pin one credential. Anchors are content-free hashes in the state
backend, shared by replicas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from .config.models import RotatorConfig
from .ids import unique_hex
from .protocols.unified import Message, Text, ToolCall, UnifiedRequest
from .state.base import WriteOp
from .state.keys import Keyspace


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def explicit_id(request: UnifiedRequest, headers: Mapping[str, str], inherited: str | None = None) -> str | None:
    """The session id the client gave, if any: ``inherited`` is the session of the Responses answer the request
    continues, so a ``previous_response_id`` chain stays in the session its first turn opened."""
    header = headers.get("x-session-id")
    if header:
        return "x:" + _digest(header)
    if inherited:
        return inherited
    for value in (
        request.previous_response_id and f"resp:{request.previous_response_id}",
        request.prompt_cache_key,
        request.user,
    ):
        if value:
            return "x:" + _digest(value)
    return None


def anchors_of(messages: Iterable[Message]) -> list[str]:
    """Evidence in a conversation: hashes of assistant turns' text and of their tool call ids."""
    anchors: list[str] = []
    for message in messages:
        if message.role != "assistant":
            continue
        text = "".join(p.text for p in message.parts if isinstance(p, Text)).strip()
        if text:
            anchors.append("t:" + _digest(text))
        anchors += ["c:" + _digest(p.id) for p in message.parts if isinstance(p, ToolCall)]
    return anchors


class SessionTracker:
    """Names sessions and the evidence that continues them; the pool reads it, the finishing batch writes it."""

    def __init__(self, config: RotatorConfig, keys: Keyspace) -> None:
        self._keys = keys
        self._ttl = config.sessions.anchor_ttl
        self.enabled = config.sessions.enabled

    def resolve(
        self, request: UnifiedRequest, headers: Mapping[str, str], scope: str | None, *, inherited: str | None = None
    ) -> tuple[str | None, tuple[str, ...]]:
        """The session of ``request``: explicit (or ``inherited`` from the answer it continues); else a new one,
        with the keys of the conversation's evidence (newest turn first) that may name an earlier session.
        The first admission looks them up in the same round trip (:class:`~asgi_rotator.state.admission.Admission`)."""
        if not self.enabled:
            return None, ()
        explicit = explicit_id(request, headers, inherited)
        if explicit is not None:
            return explicit, ()
        anchors = [self._keys.anchor(scope, a) for a in reversed(anchors_of(request.messages))]
        return "s:" + unique_hex(8), tuple(anchors)

    def remember_ops(self, session: str | None, scope: str | None, text: str, call_ids: Iterable[str]) -> list[WriteOp]:
        """The writes that record an answer's evidence, so the conversation's next turn finds its session."""
        if not session:
            return []
        value = session.encode()
        anchors = ["c:" + _digest(call_id) for call_id in call_ids]
        if text.strip():
            anchors.append("t:" + _digest(text.strip()))
        return [("set", self._keys.anchor(scope, a), value, self._ttl) for a in anchors]
