"""Passthrough answers (completions, images, audio, moderations, rerank): what the gateway reads from them. Pure.

The bodies pass between client and provider untouched except for the model name; only usage is read, in
whichever of the OpenAI shapes the endpoint uses.
"""

from __future__ import annotations

from typing import Any

from ..errors import GatewayError
from .base import WireProtocol
from .openai_chat.responses import parse_usage as chat_usage
from .openai_responses.responses import parse_usage as responses_usage
from .unified import Usage


def passthrough_usage(body: Any) -> Usage | None:
    """Usage from an OpenAI-style answer or stream payload: ``prompt_tokens`` (completions, moderations),
    ``input_tokens`` (images, transcriptions), or a bare ``total_tokens`` (rerank); None when it has none."""
    if not isinstance(body, dict):
        return None
    raw = body.get("usage")
    if not isinstance(raw, dict):
        return None
    if "prompt_tokens" in raw:
        return chat_usage(raw, body)
    if "input_tokens" in raw:
        return responses_usage(raw, body)
    total = raw.get("total_tokens")
    if isinstance(total, int) and not isinstance(total, bool):
        return Usage(input_tokens=total)
    return None


def check_passthrough_provider(protocol: WireProtocol, provider: str) -> None:
    """Passthrough routes reach OpenAI-compatible providers only.

    Raises:
        GatewayError: 400 naming the provider otherwise.
    """
    if protocol.family != "openai":
        raise GatewayError(
            "invalid_request",
            f"Provider {provider!r} speaks {protocol.name}; this route reaches OpenAI-compatible providers only.",
            param="model",
        )
