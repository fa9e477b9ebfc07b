"""The ``/rotator/config`` admin routes: runtime changes to providers, scopes and credentials.

Thin: each route checks that the caller holds an admin key and hands the path's names and the body to
:class:`~asgi_rotator.runtime.RuntimeConfig`, whose answer (the runtime changes, secrets masked) it sends.
Bodies are read without the ``pre_request`` hook, which is for model requests and must not see secrets.
"""

from __future__ import annotations

from ..errors import GatewayError
from ..http.asgi import send_json
from ..runtime import RuntimeConfig
from ..types import Send
from .base import Request


class RuntimeConfigRoutes:
    """The endpoints; every one answers 403 to a key that is not in ``auth.admin_keys``."""

    def __init__(self, runtime: RuntimeConfig) -> None:
        self._runtime = runtime

    async def show(self, request: Request, send: Send) -> None:
        """``GET /rotator/config``: the runtime changes."""
        _admin(request)
        await send_json(send, 200, await self._runtime.view())

    async def reset(self, request: Request, send: Send) -> None:
        """``DELETE /rotator/config``: drop every runtime change."""
        _admin(request)
        await send_json(send, 200, await self._runtime.reset())

    async def put_provider(self, request: Request, send: Send) -> None:
        """``PUT /rotator/config/providers/{name}``: the body is the provider, as a config file gives it."""
        _admin(request)
        answer = await self._runtime.put_provider(_name(request), await request.json_object())
        await send_json(send, 200, answer)

    async def remove_provider(self, request: Request, send: Send) -> None:
        """``DELETE /rotator/config/providers/{name}``."""
        _admin(request)
        await send_json(send, 200, await self._runtime.remove_provider(_name(request)))

    async def add_credential(self, request: Request, send: Send) -> None:
        """``POST /rotator/config/providers/{name}/credentials``: the body is ``{key, priority, ...}``."""
        _admin(request)
        answer = await self._runtime.add_credential(_name(request), await request.json_object())
        await send_json(send, 201, answer)

    async def remove_credential(self, request: Request, send: Send) -> None:
        """``DELETE /rotator/config/providers/{name}/credentials/{id or masked form}``."""
        _admin(request)
        await send_json(send, 200, await self._runtime.remove_credential(_name(request), request.route.ref or ""))

    async def put_scope(self, request: Request, send: Send) -> None:
        """``PUT /rotator/config/scopes/{name}``: the body is the scope, plus its ``api_keys``."""
        _admin(request)
        answer = await self._runtime.put_scope(_name(request), await request.json_object())
        await send_json(send, 200, answer)

    async def remove_scope(self, request: Request, send: Send) -> None:
        """``DELETE /rotator/config/scopes/{name}``."""
        _admin(request)
        await send_json(send, 200, await self._runtime.remove_scope(_name(request)))


def _admin(request: Request) -> None:
    if not request.caller.admin:
        raise GatewayError("permission", "Changing the configuration needs an admin key (auth.admin_keys).")


def _name(request: Request) -> str:
    return request.route.item_id or ""
