"""Reading an upstream SSE stream into canonical events, and what the stream leaves beside them.

Besides the provider protocol's events an upstream stream may carry cost frames (``: cost 0.0012``,
``: cost {json}``, ``event: cost``), which are metadata and never visible output. Each JSON payload is parsed
once, here, and the decoded payload serves the payload adapters, the raw stream field-cache rules, the trace
(which redacts by key name) and the provider protocol's parser alike.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from .. import _json
from ..errors import SSEEventTooLarge, UpstreamError
from ..pipeline import StreamCollector
from ..protocols.base import SSEData
from ..protocols.cost import provider_cost
from ..protocols.unified import StreamEvent
from ..sse import SSEDecoder
from .call import AttemptContext


class StreamReader:
    """Turns one attempt's upstream SSE chunks into canonical events, a batch per network chunk, through the
    provider's stream adapters, feeding its field-cache collector on the way."""

    def __init__(self, attempt: AttemptContext, collector: StreamCollector, *, max_event_bytes: int) -> None:
        self.attempt = attempt
        self.parser = attempt.target.protocol.stream_parser()
        self.decoder = SSEDecoder(keep_comments=True, max_event_bytes=max_event_bytes)
        self.trace = attempt.trace
        self.collector = collector
        self._raw = collector.wants_raw
        self._unified = collector.wants_unified
        #: Costs the upstream reported in cost frames, in order (the last one is the final usage's).
        self.costs: list[float] = []
        #: Payloads read since the last event; they ride on the next one (see ``StreamEvent.raw``).
        self._unsent: list[tuple[str | None, SSEData]] = []

    async def events(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[list[StreamEvent]]:
        """Canonical events per chunk; at the end, whatever terminal the parser decides."""
        async for chunk in chunks:
            events: list[StreamEvent] = []
            try:
                decoded = self.decoder.feed(chunk)
            except SSEEventTooLarge as exc:
                raise UpstreamError("upstream_invalid", f"The upstream stream is malformed: {exc}.") from None
            for name, data in decoded:
                events += self._feed(name, data)
            if events:
                yield self._adapted(events)
        tail: list[StreamEvent] = []
        for name, data in self.decoder.flush():
            tail += self._feed(name, data)
        finished = self.parser.finish()
        self._carry(finished)
        yield self._adapted(tail + finished)

    async def completed(self) -> None:
        """The stream reached its success terminal: store what its field-cache rules collected."""
        await self.collector.complete()
        self.attempt.record_cache("after_field_cache_extraction", "extract")

    def _adapted(self, events: list[StreamEvent]) -> list[StreamEvent]:
        attempt = self.attempt
        if attempt.chain.has_stream:
            adapted = [attempt.chain.stream_event(event, attempt.adapter_ctx) for event in events]
            events = [event for event in adapted if event is not None]
        if self._unified:
            for event in events:
                self.collector.unified_event(event)
        return events

    def _feed(self, name: str | None, data: str) -> list[StreamEvent]:
        if name == "comment" or name == "cost":
            cost = _cost_frame(data.removeprefix("cost").strip() if name == "comment" else data)
            if cost is not None and (name == "cost" or data.startswith("cost")):
                self.costs.append(cost)
            return []
        payload: SSEData = data
        if data[:1] in ("{", "[") and data != "[DONE]":  # OpenAI's terminal is no JSON: spare a failed parse
            try:
                payload = _json.loads(data)  # the only parse: the parser takes the decoded payload
            except _json.JSONDecodeError:
                pass  # the parser reports it, in its protocol's words
        if self.trace is not None:
            self.trace.record(
                "raw_provider_stream_event", payload, direction="stream", component="provider", event=name
            )
        if isinstance(payload, dict):
            if self.attempt.chain.has_stream_payload:
                payload = self.attempt.chain.stream_payload(payload, self.attempt.adapter_ctx)
            if self._raw:
                self.collector.raw_event(payload)
        self._unsent.append((name, payload))
        events = self.parser.feed(name, payload)
        self._carry(events)
        if self.trace is not None:
            for event in events:
                self.trace.record("parsed_unified_stream_event", event, direction="stream")
        return events

    def _carry(self, events: list[StreamEvent]) -> None:
        """Attach the payloads read so far to the first of ``events`` (the rest came from the same payload).

        Failures carry none: the gateway reports them in the client's words (a cut stream's last payload may be
        a fragment no client could read).
        """
        for event in events:
            if event.kind != "error":
                event.raw, self._unsent = self._unsent, []


def _cost_frame(text: str) -> float | None:
    try:
        value = _json.loads(text) if text else None
    except _json.JSONDecodeError:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return provider_cost(value, None) if isinstance(value, dict) else None
