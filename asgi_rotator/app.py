"""``RotatorASGI``: the gateway as one raw ASGI application, for any host to mount."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal, overload

import httpx

from .composition import Collaborators
from .config import RotatorConfig, load_config
from .errors import ConfigError
from .gateway import Gateway
from .hooks import PreRequestHook
from .http.routes import generate_path
from .inprocess import InProcessClient
from .litellm_loader import load_litellm
from .pipeline import AdapterRegistry, builtin_adapters, validate_adapters, validate_rules
from .protocols import builtin_protocols
from .protocols.registry import ProtocolRegistry
from .runtime import RuntimeConfig
from .state import StateBackend
from .state.keys import Keyspace
from .types import Message, Receive, Scope, Send
from .upstream.connections import Connections

logger = logging.getLogger("asgi_rotator")

#: Seconds each shutdown step (stop polling, close the gateway, close the connections) may take.
_SHUTDOWN_STEP = 10.0


class RotatorASGI:
    """The LLM gateway as an ASGI app: mount it under any path of a host app, or serve it alone.

    It starts on lifespan startup when the host forwards lifespan, and otherwise lazily on the first request
    (Starlette's and FastAPI's ``mount`` do not forward lifespan).

    Args:
        config: a dict, a :class:`RotatorConfig`, a path to a YAML or JSON file, or None to read
            ``ROTATOR_CONFIG`` and the environment. Validated here, so a bad config fails at construction.
        protocols: this app's protocol registry (by default a new one with the built-ins); register a custom
            or deviating protocol on it, and no other app in the process sees it.
        adapters: this app's adapter registry (by default a new one with the built-in adapters).
        backend: a state backend to use instead of the one ``config.state`` names.
        upstream_transport: an httpx transport for upstream requests instead of the gateway's own pooled one
            (for tests: ``httpx.ASGITransport(app=FakeUpstream())``).
        pre_request: an async hook run on every request before it is routed: it may inspect or modify the
            body, or deny the request by raising :class:`~asgi_rotator.errors.RequestDenied` (see
            :mod:`asgi_rotator.hooks`).

    Attributes:
        runtime: add, change and remove providers, scopes and credentials without a restart
            (:class:`~asgi_rotator.runtime.RuntimeConfig`; the ``/rotator/config`` admin routes call it).
    """

    def __init__(
        self,
        config: RotatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        protocols: ProtocolRegistry | None = None,
        adapters: AdapterRegistry | None = None,
        backend: StateBackend | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        pre_request: PreRequestHook | None = None,
    ) -> None:
        self.config = load_config(config)
        self.runtime = RuntimeConfig(self.config, start=self.startup, check=self._check_runtime, apply=self._swap)
        self._given = Collaborators(
            protocols or builtin_protocols(), adapters or builtin_adapters(), self.runtime, clock, pre_request
        )
        self._backend, self._upstream_transport = backend, upstream_transport
        self._check(self.config)
        # Imported here, at construction, so no request ever waits for it (and it is missing loudly, now).
        self._load_litellm(self.config)
        self._gateway: Gateway | None = None
        self._connections: Connections | None = None
        self._starting: asyncio.Lock | None = None
        self._client = InProcessClient(self)

    def __repr__(self) -> str:
        return f"RotatorASGI(providers={sorted(self.config.providers)!r})"

    async def startup(self) -> Gateway:
        """Start the gateway now (idempotent); lazy start and lifespan both come here. The runtime
        configuration changes in the state backend apply from the start."""
        if self._gateway is None:
            if self._starting is None:
                self._starting = asyncio.Lock()
            async with self._starting:
                if self._gateway is None:
                    connections = Connections(
                        self.config, backend=self._backend, http=self._upstream_transport, clock=self._given.clock
                    )
                    config = await self.runtime.attach(connections.backend, Keyspace(self.config.state.prefix))
                    self._connections = connections
                    self._gateway = Gateway(config, self._given, connections)
        return self._gateway

    async def shutdown(self) -> None:
        """Close upstream connections and the state backend. Each step gets at most ``_SHUTDOWN_STEP`` seconds:
        a wedged backend or upstream must not keep the host from stopping."""
        gateway, connections, self._gateway, self._connections = self._gateway, self._connections, None, None
        steps = [self.runtime.detach]
        steps += [gateway.aclose] if gateway is not None else []
        steps += [connections.aclose] if connections is not None else []
        for step in steps:
            try:
                async with asyncio.timeout(_SHUTDOWN_STEP):
                    await step()
            except TimeoutError:
                logger.error("asgi_rotator: shutdown step %s took over %ss", step.__qualname__, _SHUTDOWN_STEP)

    async def _swap(self, config: RotatorConfig) -> None:
        """Serve ``config`` from now on: new requests go to a new gateway, those in flight finish on the old."""
        old = self._gateway
        if old is None or self._connections is None:
            return
        self._gateway = Gateway(config, self._given, self._connections)
        await old.retire()

    def _check(self, config: RotatorConfig) -> None:
        """What validation alone cannot know: this app's protocols and adapters.

        Raises:
            ConfigError: naming the field.
        """
        protocols = self._given.protocols
        for name, provider in config.providers.items():
            if provider.protocol not in protocols:
                known = ", ".join(protocols.names())
                raise ConfigError(f"providers.{name}.protocol: unknown protocol {provider.protocol!r}; known: {known}")
            output = provider.default_output_protocol
            if output is not None and output not in protocols:
                known = ", ".join(protocols.names())
                raise ConfigError(
                    f"providers.{name}.default_output_protocol: unknown protocol {output!r}; known: {known}"
                )
        validate_adapters(config, self._given.adapters)
        validate_rules(config)

    def _load_litellm(self, config: RotatorConfig) -> None:
        """Import LiteLLM when a provider goes through it (MissingDependency, naming the extra, without it)."""
        if any(self._given.protocols.get(p.protocol).upstream == "litellm" for p in config.providers.values()):
            load_litellm()

    async def _check_runtime(self, config: RotatorConfig) -> None:
        """:meth:`_check` for a runtime change; LiteLLM, if it is new, is imported off the event loop."""
        self._check(config)
        await asyncio.to_thread(self._load_litellm, config)

    # -- the Python API: the same pipeline as HTTP, without a server ---------------------------------------

    @overload
    async def acompletion(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        stream: Literal[False] = False,
        client_key: str | None = None,
        provider_key: str | None = None,
        **params: Any,
    ) -> dict[str, Any]: ...

    @overload
    async def acompletion(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        stream: Literal[True],
        client_key: str | None = None,
        provider_key: str | None = None,
        **params: Any,
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def acompletion(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        stream: bool = False,
        client_key: str | None = None,
        provider_key: str | None = None,
        **params: Any,
    ) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """An OpenAI Chat completion, as ``litellm.acompletion`` callers expect one.

        Args:
            model: ``provider/model``, an alias or a bare name, as over HTTP.
            messages: OpenAI Chat messages.
            stream: return an async iterator of ``chat.completion.chunk`` dicts instead of one completion dict.
            client_key: act as this configured client key (its scope and budget); by default a global client.
            provider_key: your own key for the named provider, for this call only (never stored or pooled; the
                call goes to that provider alone).
            params: any other Chat Completions field (``tools``, ``temperature``, ``stream_options`` ...).

        Raises:
            APIStatusError: the gateway answered with an error (its ``status_code`` and protocol-shaped ``body``);
                in a stream, an in-band error raises while iterating.
        """
        body = {"model": model, "messages": messages, **params}
        if stream:
            return await self._client.events(
                generate_path("openai_chat"), {**body, "stream": True}, client_key=client_key, provider_key=provider_key
            )
        return await self._client.json(
            generate_path("openai_chat"), body, client_key=client_key, provider_key=provider_key
        )

    async def aembedding(
        self,
        *,
        model: str,
        input: str | list[str] | list[int] | list[list[int]],
        client_key: str | None = None,
        provider_key: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """OpenAI-shaped embeddings for ``input``: float vectors unless ``encoding_format="base64"`` is given.
        ``client_key`` and ``provider_key`` work as for :meth:`acompletion`.

        Raises:
            APIStatusError: the gateway answered with an error.
        """
        body = {"model": model, "input": input, "encoding_format": "float", **params}
        return await self._client.json("/v1/embeddings", body, client_key=client_key, provider_key=provider_key)

    async def agenerate(
        self,
        protocol: str,
        body: Mapping[str, Any],
        *,
        client_key: str | None = None,
        provider_key: str | None = None,
    ) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """A generation in any client protocol: ``openai_chat``, ``openai_responses``, ``anthropic_messages`` or
        ``gemini``. ``body`` is that protocol's request (with ``"stream": true`` to stream); a Gemini body also
        names its ``model`` and may say ``"stream": true``, both taken out before it is sent. ``client_key``
        and ``provider_key`` work as for :meth:`acompletion`.

        Returns:
            The protocol's native answer, or for a stream an async iterator of its native events (the JSON of
            each event; Anthropic and Responses events carry their ``type``).

        Raises:
            APIStatusError: the gateway answered with an error.
            ValueError: an unknown protocol, or a Gemini body without ``model``.
        """
        request = dict(body)
        stream = bool(request.get("stream"))
        model = None
        if protocol == "gemini":
            model = request.pop("model", None)
            request.pop("stream", None)
        path = generate_path(protocol, model, stream=stream)
        if stream:
            return await self._client.events(
                path, request, client_key=client_key, provider_key=provider_key, query=b"alt=sse"
            )
        return await self._client.json(path, request, client_key=client_key, provider_key=provider_key)

    async def aclose(self) -> None:
        """Close the gateway (upstream connections, the state backend); the next call starts it again."""
        await self.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            gateway = self._gateway or await self.startup()
            await gateway.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            gateway = self._gateway or await self.startup()
            await gateway.websocket(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
