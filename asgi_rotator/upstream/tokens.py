"""A local token estimate, for count-tokens requests whose upstream protocol cannot count."""

from __future__ import annotations

import math

from .. import _json
from ..protocols.unified import Reasoning, Text, ToolCall, ToolResult, UnifiedRequest


def estimate_tokens(request: UnifiedRequest) -> int:
    """About four characters a token over text, tool calls, tool results and tool definitions."""
    chars = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text | Reasoning):
                chars += len(part.text)
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ToolResult):
                chars += sum(len(p.text) for p in part.content if isinstance(p, Text))
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(_json.dumps(tool.parameters or {}))
    return max(1, math.ceil(chars / 4))
