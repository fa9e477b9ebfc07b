"""Same protocol in and out: the upstream's own answer, touched only where the gateway must rewrite it.

When the client speaks the provider's protocol, re-rendering the answer through the unified types would lose
whatever they do not model (extra choices, logprobs, citations, server-tool blocks, grounding metadata, hosted
tool items, fields added later). Instead the client gets the upstream's body, or its stream payloads, with
only the gateway's rewrites: its own response id, the model name as the client addressed it, and (Responses)
its own output item ids. Provider state passes as the protocol carries it, since the client is of its family.

The unified parse still happens alongside (usage, field cache, session evidence and storage read it); this
module only decides what the client sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._common import new_id
from .base import Frame, StreamFormatter, WireProtocol
from .unified import StreamEvent, UnifiedRequest

#: Protocols whose answers pass through; every registered protocol is one.
PASSTHROUGH_PROTOCOLS = frozenset({"openai_chat", "anthropic_messages", "gemini", "openai_responses"})


def passes_through(client_protocol: str, provider_protocol: str | None) -> bool:
    """Whether an answer of ``provider_protocol`` goes to a ``client_protocol`` client as it came."""
    return client_protocol == provider_protocol and client_protocol in PASSTHROUGH_PROTOCOLS


def rewriter(protocol: WireProtocol, request: UnifiedRequest, response_id: str) -> Rewriter:
    """The rewrites of an answer to ``request``, a client of ``protocol``, under the gateway's ``response_id``."""
    return Rewriter(
        protocol.name, response_id, request.model, request.previous_response_id, include_usage=request.include_usage
    )


class Rewriter:
    """The gateway's rewrites of one answer (a body, or a stream's payloads), in the provider's protocol.

    Item ids it mints are remembered, so a stream's events and its final snapshot name an item alike, and
    rewriting a payload twice changes nothing more. Bodies and payloads are rewritten in place: by then the
    parse, the field cache and the trace are done with them.
    """

    def __init__(
        self,
        protocol: str,
        response_id: str,
        model: str,
        previous_response_id: str | None = None,
        *,
        include_usage: bool = True,
    ) -> None:
        self.protocol = protocol
        self.response_id = response_id
        self.model = model
        #: Chat: the gateway always asks for stream usage (to account it); a client that did not sees none.
        self.include_usage = include_usage
        #: Responses lineage is the gateway's: the client's own ``previous_response_id``, not the upstream's.
        self.previous_response_id = previous_response_id
        self._item_ids: dict[str, str] = {}
        self._minted: set[str] = set()

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        """A whole (non-streamed) answer with the rewrites applied (in place)."""
        out = body
        if self.protocol == "gemini":
            self._gemini(out)
        elif self.protocol == "openai_responses":
            self._response_object(out)
        else:  # openai_chat, anthropic_messages: id and model at the top
            out["id"], out["model"] = self.response_id, self.model
        return out

    def payload(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """One stream payload with the rewrites applied (in place), or None when the client must not see it."""
        out = payload
        if self.protocol == "openai_chat":
            if not self.include_usage and "usage" in out:
                if not out.get("choices"):
                    return None  # the usage-only chunk the client did not ask for
                del out["usage"]
            if "id" in out:
                out["id"] = self.response_id
            if "model" in out:
                out["model"] = self.model
        elif self.protocol == "anthropic_messages":
            message = out.get("message")
            if out.get("type") == "message_start" and isinstance(message, dict):
                message["id"], message["model"] = self.response_id, self.model
        elif self.protocol == "gemini":
            self._gemini(out)
        else:
            self._responses_event(out)
        return out

    def _gemini(self, body: dict[str, Any]) -> None:
        body["responseId"], body["modelVersion"] = self.response_id, self.model

    def _response_object(self, response: dict[str, Any]) -> None:
        response["id"], response["model"] = self.response_id, self.model
        response["previous_response_id"] = self.previous_response_id
        for item in response.get("output") or ():
            if isinstance(item, dict):
                self._item(item)

    def _responses_event(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("response"), dict):
            self._response_object(event["response"])
        if isinstance(event.get("item"), dict):
            self._item(event["item"])
        if isinstance(event.get("item_id"), str):
            event["item_id"] = self._item_id(event["item_id"])

    def _item(self, item: dict[str, Any]) -> None:
        if isinstance(item.get("id"), str):
            item["id"] = self._item_id(item["id"])

    def _item_id(self, upstream: str) -> str:
        if upstream in self._minted:
            return upstream
        minted = self._item_ids.get(upstream)
        if minted is None:
            # Keep the kind's prefix (msg_, fc_, ctc_, ws_ ...): clients and the API read it.
            prefix = upstream[: upstream.index("_") + 1] if "_" in upstream else "item_"
            minted = self._item_ids[upstream] = new_id(prefix)
            self._minted.add(minted)
        return minted


class PassthroughFormatter(StreamFormatter):
    """A stream formatter for a client of the provider's protocol: each event's upstream payloads go out as
    they came (rewritten); events the gateway made itself (an in-band failure) go through ``inner``, the
    protocol's own formatter, which sees every event so its lifecycle stays in step.
    """

    def __init__(self, inner: StreamFormatter, rewriter: Rewriter, active: Callable[[], bool]) -> None:
        self._inner = inner
        self._rewriter = rewriter
        self._active = active
        self._passing: bool | None = None
        # The client's protocol keeps its own keep-alive idiom (an Anthropic ping, a Gemini blank line).
        self.heartbeat = inner.heartbeat  # type: ignore[misc]

    def feed(self, event: StreamEvent) -> list[Frame]:
        made_here = self._inner.feed(event)
        if event.raw is None or not self._passes():
            return made_here
        frames = [(name, self._rewritten(payload)) for name, payload in event.raw]
        return [Frame(payload, event=name) for name, payload in frames if payload is not None]

    def final_response(self, event: StreamEvent) -> dict[str, Any] | None:
        """The whole response object an event's payloads carry (Responses ``response.completed``), rewritten as
        the client gets it: what the gateway stores. None when the event carries none or nothing passes."""
        if event.raw is None or not self._passes():
            return None
        found = None
        for _, payload in event.raw:
            rewritten = self._rewritten(payload)
            if isinstance(rewritten, dict) and isinstance(rewritten.get("response"), dict):
                found = rewritten["response"]
        return found

    def _passes(self) -> bool:
        # Decided at the first upstream event: the target that serves is known by then.
        if self._passing is None:
            self._passing = self._active()
        return self._passing

    def _rewritten(self, payload: Any) -> Any:
        return self._rewriter.payload(payload) if isinstance(payload, dict) else payload
