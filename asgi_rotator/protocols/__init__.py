"""Wire protocols: the four built-ins and the registry that names them.

Each app has its own :class:`ProtocolRegistry` (:func:`builtin_protocols` by default); :func:`get_protocol`
looks up a built-in by name, for code that translates without an app.
"""

from __future__ import annotations

from .anthropic_messages import AnthropicMessagesProtocol
from .base import Frame, NativeRequest, StreamFormatter, StreamParser, WireProtocol
from .gemini import GeminiProtocol
from .litellm import LiteLLMProtocol
from .openai_chat import OpenAIChatProtocol
from .openai_responses import OpenAIResponsesProtocol
from .registry import ProtocolRegistry


def builtin_protocols() -> ProtocolRegistry:
    """A new registry holding the built-in protocols (their instances are stateless and shared)."""
    return ProtocolRegistry(_BUILTINS)


def get_protocol(name: str) -> WireProtocol:
    """The built-in protocol named ``name`` (or an alias of it).

    Raises:
        KeyError: no built-in protocol has that name.
    """
    return _REGISTRY.get(name)


_BUILTINS = (
    AnthropicMessagesProtocol(),
    OpenAIChatProtocol(),
    OpenAIResponsesProtocol(),
    GeminiProtocol(),
    LiteLLMProtocol(),
)
_REGISTRY = ProtocolRegistry(_BUILTINS)

__all__ = [
    "AnthropicMessagesProtocol",
    "Frame",
    "GeminiProtocol",
    "LiteLLMProtocol",
    "NativeRequest",
    "OpenAIChatProtocol",
    "OpenAIResponsesProtocol",
    "ProtocolRegistry",
    "StreamFormatter",
    "StreamParser",
    "WireProtocol",
    "builtin_protocols",
    "get_protocol",
]
