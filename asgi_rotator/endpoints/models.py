"""Model listing: ``GET /v1/models`` (OpenAI shape) and ``GET /v1beta/models`` (Gemini shape)."""

from __future__ import annotations

from typing import Any

from ..config.models import RotatorConfig
from ..http.asgi import send_json
from ..types import Send
from .base import Request

_GEMINI_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


class ModelListing:
    """The configured models and aliases, as ``provider/model``.

    Args:
        config: the configuration whose models and aliases are listed.
    """

    def __init__(self, config: RotatorConfig) -> None:
        names = [f"{provider}/{model}" for provider, p in config.providers.items() for model in p.models]
        self._names = names + [alias for alias in config.routing.aliases if alias not in names]

    async def list(self, request: Request, send: Send) -> None:
        """The listing in the Gemini shape on a Gemini route or for Gemini auth, else in the OpenAI shape."""
        headers = request.headers
        gemini = request.protocol.family == "gemini" or ("x-goog-api-key" in headers and "authorization" not in headers)
        await send_json(send, 200, self._gemini() if gemini else self._openai())

    def _gemini(self) -> dict[str, Any]:
        return {
            "models": [
                {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": _GEMINI_METHODS}
                for name in self._names
            ]
        }

    def _openai(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": name.partition("/")[0] if "/" in name else "alias",
                }
                for name in self._names
            ],
        }
