"""The ``pre_request`` hook: the host app's own code, run on every request before it is routed upstream.

``RotatorASGI(config, pre_request=hook)`` takes an async callable. It sees the request's client protocol,
operation, JSON body, headers and caller, and may

- inspect it (log, count, tag),
- modify it: change ``request.body`` in place, or return a new body dict,
- deny it: raise :class:`~asgi_rotator.errors.RequestDenied`; the client gets a clean error in its own
  protocol's shape (403 unless the hook says otherwise).

Anything else the hook raises is the gateway's failure (a 500 in the client's shape), logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class PreRequest:
    """One request as a ``pre_request`` hook sees it.

    Attributes:
        protocol: the client's protocol (``openai_chat``, ``openai_responses``, ``anthropic_messages``, ``gemini``).
        operation: what is asked: ``generate``, ``count_tokens``, ``embeddings``, ``embed_content``,
            ``batch_embed_contents`` or ``passthrough``.
        path: the request path relative to the mount.
        body: the JSON body (for an upload, its ``model`` field only); modify it in place or return a new one.
        model: the model named in the path (Gemini), else None: the body names it.
        headers: the request headers, lower-cased (the client key and a per-request provider key removed).
        scope: the caller's tenant scope, or None for a global client.
        client_key_id: the caller's key fingerprint (never the key), or None.
    """

    protocol: str
    operation: str
    path: str
    body: dict[str, Any]
    model: str | None
    headers: Mapping[str, str]
    scope: str | None
    client_key_id: str | None


#: A ``pre_request`` hook: returns a replacement body, or None to keep ``request.body`` (changed or not).
PreRequestHook = Callable[[PreRequest], Awaitable[dict[str, Any] | None]]
