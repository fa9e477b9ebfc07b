"""``protocol: litellm``: providers LiteLLM reaches (Bedrock, Vertex, Cohere, watsonx ...), spoken to in OpenAI's
Chat Completions shape.

LiteLLM takes OpenAI-shaped requests and answers in OpenAI's shapes whatever the provider behind it, so the
translation is OpenAI Chat's; only the way requests travel differs (``upstream = "litellm"``: in process,
through ``litellm.acompletion`` and ``litellm.aembedding``, not over the gateway's HTTP client). The upstream
model is a LiteLLM model id (``bedrock/anthropic.claude-3-5-sonnet``, ``openai/gpt-4o``).
"""

from __future__ import annotations

from typing import ClassVar

from .openai_chat import OpenAIChatProtocol


class LiteLLMProtocol(OpenAIChatProtocol):
    """The OpenAI Chat translation, for upstreams reached through LiteLLM."""

    name: ClassVar[str] = "litellm"
    aliases: ClassVar[tuple[str, ...]] = ()
    upstream: ClassVar[str] = "litellm"
