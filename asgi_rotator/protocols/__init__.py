"""Wire protocols and the registry that names them.

The built-in protocols register themselves here; :func:`register_protocol` adds a custom one.
"""

from __future__ import annotations

from .anthropic_messages import AnthropicMessagesProtocol
from .base import Frame, NativeRequest, StreamFormatter, StreamParser, WireProtocol
from .gemini import GeminiProtocol
from .openai_chat import OpenAIChatProtocol
from .openai_responses import OpenAIResponsesProtocol
from .registry import get_protocol, list_protocols, register_protocol, resolve_protocol_name

register_protocol(AnthropicMessagesProtocol())
register_protocol(OpenAIChatProtocol())
register_protocol(OpenAIResponsesProtocol())
register_protocol(GeminiProtocol())

__all__ = [
    "AnthropicMessagesProtocol",
    "Frame",
    "GeminiProtocol",
    "NativeRequest",
    "OpenAIChatProtocol",
    "OpenAIResponsesProtocol",
    "StreamFormatter",
    "StreamParser",
    "WireProtocol",
    "get_protocol",
    "list_protocols",
    "register_protocol",
    "resolve_protocol_name",
]
