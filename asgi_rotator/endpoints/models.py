"""Model listing: ``GET /v1/models`` (OpenAI shape), ``GET /v1beta/models`` (Gemini shape), and one model by id.

The catalogue is the configured models, then what each provider's own list reports (discovery, filtered by
``models_include`` / ``models_exclude``), then the aliases, each as ``provider/model`` (an alias as itself).
A provider that cannot be reached leaves its last good list, or nothing; a listing never fails because of it.
"""

from __future__ import annotations

import logging
from typing import Any

from ..config.models import RotatorConfig
from ..errors import GatewayError
from ..http.asgi import send_json
from ..types import Send
from ..upstream.discovery import ModelDiscovery
from .base import Request

logger = logging.getLogger("asgi_rotator")

_GEMINI_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


class ModelListing:
    """The gateway's model catalogue, in the shape the caller's protocol expects.

    Args:
        config: the configured models and aliases.
        discovery: the providers' own model lists.
    """

    def __init__(self, config: RotatorConfig, discovery: ModelDiscovery) -> None:
        self._configured = {name: list(p.models) for name, p in config.providers.items()}
        self._aliases = list(config.routing.aliases)
        self._discovery = discovery

    async def list_models(self, request: Request, send: Send) -> None:
        """Every model: Gemini shape on a Gemini route or for Gemini auth, else OpenAI shape."""
        names = await self.catalogue()
        if _wants_gemini(request):
            await send_json(send, 200, {"models": [_gemini_entry(n) for n in names]})
        else:
            await send_json(send, 200, {"object": "list", "data": [_openai_entry(n) for n in names]})

    async def retrieve(self, request: Request, send: Send) -> None:
        """One model by its id (``provider/model`` or an alias); 404 when the catalogue has no such model."""
        model = request.route.model or ""
        if request.route.protocol == "gemini":
            model = model.removeprefix("models/")
        if model not in await self.catalogue():
            raise GatewayError("not_found", f"The model {model!r} is not in this gateway's catalogue.", param="model")
        await send_json(send, 200, _gemini_entry(model) if _wants_gemini(request) else _openai_entry(model))

    async def catalogue(self) -> list[str]:
        """Configured ∪ discovered ∪ aliases, in that order, without repeats."""
        try:
            discovered = await self._discovery.models()
        except Exception as exc:  # a listing must answer even when discovery's state cannot be read
            logger.warning("asgi_rotator: model discovery unavailable: %s", exc)
            discovered = {}
        names: dict[str, None] = {}
        for provider, models in self._configured.items():
            names.update((f"{provider}/{m}", None) for m in models)
        for provider, models in discovered.items():
            names.update((f"{provider}/{m}", None) for m in models)
        names.update((alias, None) for alias in self._aliases)
        return list(names)


def _wants_gemini(request: Request) -> bool:
    headers = request.headers
    return request.protocol.family == "gemini" or ("x-goog-api-key" in headers and "authorization" not in headers)


def _gemini_entry(name: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": _GEMINI_METHODS}


def _openai_entry(name: str) -> dict[str, Any]:
    owner = name.partition("/")[0] if "/" in name else "alias"
    return {"id": name, "object": "model", "created": 0, "owned_by": owner}
