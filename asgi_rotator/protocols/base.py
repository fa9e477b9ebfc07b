"""The contract every wire protocol implements, in both of its roles.

As a *client* protocol it parses what a client sent into a :class:`UnifiedRequest`, and formats a
:class:`UnifiedResponse` (or a stream of :class:`StreamEvent`) back into its own wire shape. As a *provider*
protocol it builds the native request an upstream expects and parses what the upstream answers.

Protocols are pure translation: no I/O, no shared state, no knowledge of providers or credentials. A
provider that deviates from its protocol subclasses it and overrides one method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import _json
from ..error_kinds import upstream_error
from ..errors import GatewayError, UpstreamError
from .unified import Family, StreamEvent, UnifiedRequest, UnifiedResponse


@dataclass(slots=True)
class NativeRequest:
    """What a provider protocol asks the executor to send. ``path`` is appended to the provider's base URL."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    method: str = "POST"


@dataclass(slots=True)
class Frame:
    """One unit of a client stream: an SSE event (``event`` may be None) whose data is JSON or a literal string.

    Over WebSocket the same frame is sent as one JSON text message.
    """

    data: dict[str, Any] | str
    event: str | None = None


class StreamFormatter(ABC):
    """Turns canonical stream events into one client protocol's frames. One instance per stream.

    ``feed`` is called for every event, ending with exactly one ``end`` or ``error`` event. The formatter
    opens and closes the protocol's blocks itself and never emits a success terminal for an ``error``.
    """

    #: The bytes a transport sends to keep an idle stream alive, in this protocol's idiom.
    heartbeat: ClassVar[bytes] = b": keep-alive\n\n"

    @abstractmethod
    def feed(self, event: StreamEvent) -> list[Frame]:
        """Translate one canonical event into zero or more frames."""


#: An SSE event's data: its text, or the JSON the caller already decoded from it (so it is parsed once).
SSEData = str | dict[str, Any] | list[Any]


def decoded(data: SSEData) -> Any:
    """``data`` as JSON, parsed here unless the caller already did (raises ``JSONDecodeError``)."""
    return _json.loads(data) if isinstance(data, str) else data


def is_blank(data: SSEData) -> bool:
    """True for data that is only whitespace."""
    return isinstance(data, str) and not data.strip()


class StreamParser(ABC):
    """Turns one provider protocol's stream (decoded SSE events) into canonical events. One per stream."""

    @abstractmethod
    def feed(self, event: str | None, data: SSEData) -> list[StreamEvent]:
        """Translate one SSE event (its ``event:`` name, if any, and its ``data``) into canonical events."""

    @abstractmethod
    def finish(self) -> list[StreamEvent]:
        """Called at the end of the byte stream.

        Returns the terminal ``end`` when the protocol's terminal was seen, and otherwise an ``error`` event:
        a stream that merely stops is never a success.
        """


class WireProtocol(ABC):
    """A wire protocol in both roles. Subclasses set ``name``, ``aliases`` and ``family``."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[Family]
    #: How an upstream of this protocol expects its credential: bearer, x-api-key or x-goog-api-key.
    default_auth: ClassVar[str] = "bearer"
    #: The prefix of ids the gateway mints for answers in this protocol.
    id_prefix: ClassVar[str] = "resp_"
    #: The family whose provider state (signatures, encrypted reasoning) this protocol carries on the wire: a
    #: client of it gets that state and sends it back itself; a provider of it mints it. None: it carries none.
    carries_state: ClassVar[Family | None] = None
    #: Answers given in this protocol are kept as Responses API state (``previous_response_id``, GET by id).
    stores_responses: ClassVar[bool] = False
    #: The line end of this protocol's SSE as its real upstreams send it (Gemini's is CRLF).
    sse_line_end: ClassVar[bytes] = b"\n"
    #: How requests reach upstreams of this protocol: ``http`` (the gateway's pooled client) or ``litellm``
    #: (in process, through the optional litellm package).
    upstream: ClassVar[str] = "http"

    # -- client role -------------------------------------------------------------------------------------

    @abstractmethod
    def parse_request(
        self, body: dict[str, Any], *, model: str | None = None, operation: str = "generate", stream: bool = False
    ) -> UnifiedRequest:
        """Parse a client body. ``model`` and ``stream`` come from the path for protocols that put them there.

        Raises:
            GatewayError: ``invalid_request`` naming the field, for a body the protocol does not allow.
        """

    @abstractmethod
    def format_response(self, response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
        """Render a complete answer as this protocol's response body."""

    @abstractmethod
    def stream_formatter(self, request: UnifiedRequest, response_id: str) -> StreamFormatter:
        """A new formatter for one client stream."""

    @abstractmethod
    def format_error(self, error: GatewayError) -> dict[str, Any]:
        """Render an error as this protocol's error body."""

    def format_count_tokens(self, input_tokens: int) -> dict[str, Any]:
        """Render a token count (only protocols with a count-tokens route override this)."""
        return {"input_tokens": input_tokens}

    # -- provider role -----------------------------------------------------------------------------------

    @abstractmethod
    def build_request(self, request: UnifiedRequest, model: str) -> NativeRequest:
        """Build the native upstream request for ``model`` (the provider's own model name).

        Raises:
            GatewayError: ``invalid_request`` when a meaning-changing field cannot be expressed here.
        """

    @abstractmethod
    def parse_response(self, body: dict[str, Any]) -> UnifiedResponse:
        """Parse a complete upstream answer (the caller assigns the gateway's own id afterwards).

        Raises:
            GatewayError: ``upstream_invalid`` when the body is not a valid answer of this protocol.
        """

    @abstractmethod
    def stream_parser(self) -> StreamParser:
        """A new parser for one upstream stream."""

    def build_count_tokens(self, request: UnifiedRequest, model: str) -> NativeRequest | None:
        """The native token-counting request, or None when this protocol has no such endpoint (then the
        gateway estimates locally)."""
        return None

    def parse_count_tokens(self, body: dict[str, Any]) -> int:
        """The input token count from a native count-tokens answer."""
        raise NotImplementedError

    def build_model_list(self, page_token: str | None = None) -> NativeRequest | None:
        """The GET request for one page of an upstream's model list, or None when this protocol has none."""
        return None

    def parse_model_list(self, body: Any) -> tuple[list[str], str | None]:
        """The model ids on one page of the list, and the next page's token (None on the last page).

        Raises:
            GatewayError: ``upstream_invalid`` when the body is not a model list.
        """
        raise NotImplementedError

    def upstream_error(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> UpstreamError:
        """Classify an upstream error answer (or an error that arrived inside a 200 stream, ``status`` 0)."""
        return upstream_error(status, headers or {}, body, provider=self.name)
