"""Reading an upstream SSE stream into canonical events, and what the stream leaves beside them.

Besides the provider protocol's events an upstream stream may carry cost frames (``: cost 0.0012``,
``: cost {json}``, ``event: cost``), which are metadata and never visible output. Each JSON payload is parsed
once, here, and the decoded payload serves the payload adapters, the raw stream field-cache rules, the trace
(which redacts by key name) and the provider protocol's parser alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .. import _json
from ..http.sse import SSEDecoder
from ..pipeline import StreamCollector
from ..protocols.base import SSEData, StreamParser
from ..protocols.cost import provider_cost
from ..protocols.unified import StreamEvent
from ..tracing.writer import RequestTrace
from .exchange import Exchange


@dataclass(slots=True)
class StreamReader:
    """Turns one upstream stream's SSE chunks into canonical events, a batch per network chunk."""

    parser: StreamParser
    exchange: Exchange
    collector: StreamCollector | None = None
    trace: RequestTrace | None = None
    #: Costs the upstream reported in cost frames, in order (the last one is the final usage's).
    costs: list[float] = field(default_factory=list)
    decoder: SSEDecoder = field(default_factory=lambda: SSEDecoder(keep_comments=True))

    async def events(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[list[StreamEvent]]:
        """Canonical events per chunk; at the end, whatever terminal the parser decides."""
        async for chunk in chunks:
            events: list[StreamEvent] = []
            for name, data in self.decoder.feed(chunk):
                events += self._feed(name, data)
            if events:
                yield events
        tail: list[StreamEvent] = []
        for name, data in self.decoder.flush():
            tail += self._feed(name, data)
        yield tail + self.parser.finish()

    def _feed(self, name: str | None, data: str) -> list[StreamEvent]:
        if name == "comment" or name == "cost":
            cost = _cost_frame(data.removeprefix("cost").strip() if name == "comment" else data)
            if cost is not None and (name == "cost" or data.startswith("cost")):
                self.costs.append(cost)
            return []
        payload: SSEData = data
        if data[:1] in ("{", "["):
            try:
                payload = _json.loads(data)  # the only parse: the parser takes the decoded payload
            except _json.JSONDecodeError:
                pass  # the parser reports it, in its protocol's words
        if self.trace is not None:
            self.trace.record(
                "raw_provider_stream_event", payload, direction="stream", component="provider", event=name
            )
        if isinstance(payload, dict):
            if self.exchange.chain.has_stream_payload:
                payload = self.exchange.chain.stream_payload(payload, self.exchange.adapter_ctx)
            if self.collector is not None:
                self.collector.raw_event(payload)
        events = self.parser.feed(name, payload)
        if self.trace is not None:
            for event in events:
                self.trace.record("parsed_unified_stream_event", event, direction="stream")
        return events


def _cost_frame(text: str) -> float | None:
    try:
        value = _json.loads(text) if text else None
    except _json.JSONDecodeError:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return provider_cost(value, None) if isinstance(value, dict) else None
