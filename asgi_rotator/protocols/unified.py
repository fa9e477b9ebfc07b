"""The unified types every protocol translates to and from.

A client protocol parses its request into a :class:`UnifiedRequest`; a provider protocol builds its native
request from one, and parses the native answer into a :class:`UnifiedResponse` (or, for streams, a sequence
of :class:`StreamEvent`). No protocol ever sees another protocol's wire format.

These are plain slotted dataclasses rather than pydantic models: they are built for every request and every
stream event, and validation already happened at the protocol boundary.

Provider state (Anthropic thinking signatures, Gemini ``thoughtSignature``, Responses ``encrypted_content``)
rides on the parts that carry it, tagged with the protocol *family* that minted it. A formatter emits it only
to a client of the same family; a builder sends it only to a provider of the same family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]
Family = Literal["openai", "anthropic", "gemini"]

#: Canonical stop reasons; the native reason is kept next to them.
#: Responses tool kinds that travel to other protocols as function tools (see :class:`ToolDefinition`).
ClientToolKind = Literal["function", "custom", "local_shell", "tool_search"]

StopReason = Literal["stop", "max_tokens", "tool_use", "content_filter", "error", "incomplete", "unknown"]


@dataclass(slots=True)
class Text:
    """A run of visible text. ``signature`` is Gemini's ``thoughtSignature`` when a text part carries one."""

    text: str
    signature: str | None = None
    signature_family: Family | None = None
    #: Native keys of the source protocol (e.g. Anthropic ``cache_control``), replayed on same-protocol paths.
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Media:
    """An image, document, audio clip or file, given inline (base64 ``data``), by ``url`` or by ``file_id``."""

    kind: Literal["image", "document", "audio", "file"]
    media_type: str | None = None
    url: str | None = None
    data: str | None = None
    file_id: str | None = None
    filename: str | None = None
    detail: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolCall:
    """A model's call of a tool. ``arguments`` is always a JSON text (OpenAI's form), even when empty (``{}``)."""

    id: str
    name: str
    arguments: str = "{}"
    #: Gemini attaches ``thoughtSignature`` to ``functionCall`` parts.
    signature: str | None = None
    signature_family: Family | None = None
    #: The legacy Chat ``function_call`` form, written back the way it came.
    legacy_function_call: bool = False
    extra: dict[str, Any] | None = None
    #: The client-side tool kind the call stands for (see :attr:`ToolDefinition.client_kind`).
    client_kind: ClientToolKind = "function"
    #: The Responses namespace of the called tool (``name`` is then the flattened name).
    namespace: str | None = None


@dataclass(slots=True)
class ToolResult:
    """The result of a tool call. ``content`` holds text and media parts."""

    tool_call_id: str
    content: list[Text | Media] = field(default_factory=list)
    name: str | None = None
    is_error: bool = False
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Reasoning:
    """Model reasoning: visible summary text, an opaque signature, or a redacted (encrypted) block."""

    text: str = ""
    signature: str | None = None
    signature_family: Family | None = None
    #: Anthropic ``redacted_thinking.data`` or Responses ``encrypted_content``: opaque provider state.
    redacted: str | None = None
    #: The Responses item id, kept so a Responses client can reference it again.
    item_id: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Opaque:
    """A history block or item with no unified form (Anthropic ``server_tool_use``, Responses ``custom_tool_call``
    ...), kept whole so a provider of the protocol that sent it gets it back verbatim, in its place.

    ``protocol`` names the wire protocol ``data`` is written in; builders of other protocols never emit it.
    """

    protocol: str
    data: dict[str, Any]


Part = Text | Media | ToolCall | ToolResult | Reasoning | Opaque


@dataclass(slots=True)
class Message:
    """One turn of the conversation. System and developer instructions are messages too."""

    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str | None = None
    extra: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The concatenated visible text of the message."""
        return "".join(p.text for p in self.parts if isinstance(p, Text))


@dataclass(slots=True)
class ToolDefinition:
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    extra: dict[str, Any] | None = None
    #: What the client declared: a plain function, or a Responses tool that reaches other protocols as one
    #: (``custom`` freeform tools, ``local_shell``, client-executed ``tool_search``); calls map back by name.
    client_kind: ClientToolKind = "function"
    #: The Responses ``namespace`` the tool belongs to; ``name`` is then the flattened name.
    namespace: str | None = None


@dataclass(slots=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (any tool), or one named tool; ``allowed`` narrows the set."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None
    allowed: list[str] | None = None


@dataclass(slots=True)
class ResponseFormat:
    """Structured output: plain text, any JSON object, or JSON matching ``schema``."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class ReasoningConfig:
    """Reasoning request, mapped through the table in :mod:`asgi_rotator.protocols.reasoning`."""

    effort: str | None = None  # minimal | low | medium | high (OpenAI / Responses)
    budget_tokens: int | None = None  # Anthropic budget_tokens, Gemini thinkingBudget
    include_thoughts: bool | None = None  # Gemini includeThoughts, Responses reasoning.summary
    summary: str | None = None  # Responses reasoning.summary (auto | concise | detailed)
    enabled: bool | None = None  # explicit off (Anthropic type=disabled, Gemini budget 0)


@dataclass(slots=True)
class Usage:
    """Canonical usage: ``input_tokens`` is uncached input; ``output_tokens`` includes reasoning tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: Cost the provider reported itself, in USD, when it did.
    provider_cost_usd: float | None = None

    @property
    def prompt_tokens(self) -> int:
        """All input, cached or not (OpenAI's ``prompt_tokens``)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        """Every token billed for the call."""
        return self.prompt_tokens + self.output_tokens


@dataclass(slots=True)
class ConversionWarning:
    """Optional tuning dropped on the way to a protocol that cannot express it."""

    code: str
    message: str
    field: str | None = None
    source_protocol: str | None = None
    target_protocol: str | None = None


@dataclass(slots=True)
class UnifiedRequest:
    """A generation request, independent of the wire protocol it came in on."""

    model: str
    messages: list[Message] = field(default_factory=list)
    operation: str = "generate"  # generate | count_tokens
    stream: bool = False
    tools: list[ToolDefinition] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    reasoning: ReasoningConfig | None = None
    #: The client asked for usage in its stream (Chat ``stream_options.include_usage``).
    include_usage: bool = False
    #: Session evidence: ``user``, ``prompt_cache_key``, Anthropic ``metadata.user_id`` ...
    user: str | None = None
    prompt_cache_key: str | None = None
    previous_response_id: str | None = None
    #: A conversation the client names (Responses ``conversation``: an id or ``{"id": ...}``).
    conversation: str | None = None
    #: The gateway replayed a stored Responses history into ``messages`` itself (so nothing may also chain it
    #: upstream by id).
    history_expanded: bool = False
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    source_protocol: str = ""
    #: The client's body as parsed; same-protocol builders replay its unknown keys.
    raw: dict[str, Any] = field(default_factory=dict)
    warnings: list[ConversionWarning] = field(default_factory=list)
    #: Fields whose loss would change the answer's meaning (``n`` > 1, ``logprobs``, audio output, hosted
    #: tools ...): only a provider of the client's own protocol honours them; any other refuses the request.
    source_only: list[ConversionWarning] = field(default_factory=list)


@dataclass(slots=True)
class UnifiedResponse:
    """A complete, non-streamed answer: the assistant's parts in output order."""

    id: str
    model: str
    parts: list[Part] = field(default_factory=list)
    stop_reason: StopReason = "stop"
    native_stop_reason: str | None = None
    usage: Usage | None = None
    created: int = 0
    #: The provider's own response id, kept as metadata; never reused as the gateway's id.
    upstream_id: str | None = None
    warnings: list[ConversionWarning] = field(default_factory=list)
    #: The provider's body as it came (after response adapters), for a client of the provider's protocol.
    raw: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The concatenated visible text."""
        return "".join(p.text for p in self.parts if isinstance(p, Text))

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls, in order."""
        return [p for p in self.parts if isinstance(p, ToolCall)]


StreamEventKind = Literal[
    "start",  # lifecycle start: id and model known
    "text",  # text delta
    "reasoning",  # reasoning (thinking / summary) text delta
    "reasoning_signature",  # opaque signature closing the current reasoning block
    "reasoning_redacted",  # a whole redacted / encrypted reasoning block
    "tool_call_start",  # a tool call opens: index, id, name
    "tool_call_delta",  # a fragment of a tool call's JSON arguments
    "text_signature",  # a signature attached to text (Gemini)
    "usage",  # usage so far (the last one wins)
    "end",  # terminal: stop_reason set; the only success terminal
    "error",  # terminal failure reported in-band
]

#: Events that count as output the client has seen; before the first one, a failed stream may fall back.
VISIBLE_KINDS = frozenset(
    {"text", "reasoning", "reasoning_signature", "reasoning_redacted", "tool_call_start", "tool_call_delta"}
)


@dataclass(slots=True)
class StreamEvent:
    """One step of a streamed answer, in the canonical lifecycle (start, deltas, usage, end or error).

    Block boundaries are implicit: a change of kind (or of tool ``index``) closes the open block, so a
    formatter for a block-structured protocol (Anthropic, Responses) opens and closes blocks itself.
    """

    kind: StreamEventKind
    text: str = ""
    index: int = 0  # tool-call index among this answer's tool calls
    id: str | None = None  # tool call id, or the response id on "start"
    name: str | None = None  # tool name, or the model on "start"
    signature: str | None = None
    signature_family: Family | None = None
    usage: Usage | None = None
    stop_reason: StopReason | None = None
    native_stop_reason: str | None = None
    error: Any = None  # a GatewayError on "error"
    #: The upstream payloads (SSE event name, data) read since the previous event, for a client of the provider's
    #: protocol; None for an event the gateway made itself.
    raw: list[tuple[str | None, Any]] | None = None

    @property
    def visible(self) -> bool:
        """True when this event shows output to the client."""
        return self.kind in VISIBLE_KINDS
