"""Model discovery: each provider's own model list, fetched through the upstream transport and kept in state.

A provider's list is fetched on the first listing that needs it, then refreshed in the background every
``discovery.ttl`` (by a task the first listing starts, and by any listing that finds a list older than that, as
another replica may have left it). A failed fetch keeps the last good list (and is tried again after
``discovery.retry``); nothing here ever fails a listing. Discovery uses a credential of the provider but takes
no lease and counts in no window or budget: it is not a request anyone pays for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .. import _json
from ..config.models import ProviderConfig, RotatorConfig
from ..credentials.identity import Credential
from ..credentials.pool import CredentialPool
from ..errors import GatewayError
from ..protocols.base import WireProtocol
from ..state.base import StateBackend
from ..state.keys import Keyspace
from .transport import UpstreamTransport

logger = logging.getLogger("asgi_rotator")

_MAX_PAGES = 50
_MAX_CREDENTIALS_TRIED = 3
#: A stored list outlives its refresh time by this factor, so a provider that keeps failing keeps its last list.
_KEEP_FACTOR = 24


@dataclass(frozen=True, slots=True)
class _Entry:
    models: list[str]
    refresh_at: float


def visible(model: str, provider: ProviderConfig) -> bool:
    """Whether a discovered ``model`` is listed: unless ``models_exclude`` matches it and ``models_include``
    does not (the whitelist wins)."""
    if not any(fnmatchcase(model, glob) for glob in provider.models_exclude):
        return True
    return any(fnmatchcase(model, glob) for glob in provider.models_include)


class ModelDiscovery:
    """The models each provider reports about itself.

    Args:
        config: providers, and the ``discovery`` settings.
        pool: where a provider's credentials come from (only read, never leased).
        transport: the shared upstream transport.
        protocols: each provider's protocol, by provider name.
        backend: where the lists are kept, for every replica.
        keys: the keyspace.
        clock: Unix time.
    """

    def __init__(
        self,
        config: RotatorConfig,
        pool: CredentialPool,
        transport: UpstreamTransport,
        protocols: Mapping[str, WireProtocol],
        backend: StateBackend,
        keys: Keyspace,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = config.discovery
        self._pool = pool
        self._transport = transport
        self._protocols = protocols
        self._backend = backend
        self._keys = keys
        self._clock = clock
        self._providers = {
            name: provider
            for name, provider in config.providers.items()
            if config.discovery.enabled
            and provider.discover
            and "{model}" not in provider.base_url  # a per-model URL has no list endpoint of its own
            and protocols[name].build_model_list() is not None
        }
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def models(self) -> dict[str, list[str]]:
        """Each discovering provider's listed models (after ``models_include`` / ``models_exclude``)."""
        entries = await self._entries()
        if self._ticker is None and self._providers:
            self._ticker = asyncio.get_running_loop().create_task(self._refresh_every_ttl())
        return {name: [m for m in entry.models if visible(m, self._providers[name])] for name, entry in entries.items()}

    async def _entries(self) -> dict[str, _Entry]:
        """Every provider's stored list, fetched now when there is none yet; stale ones refresh in the background."""
        names = list(self._providers)
        stored = await self._backend.get_many([self._keys.discovered_models(name) for name in names])
        entries = {name: _decode(raw) for name, raw in zip(names, stored, strict=True)}
        missing = [name for name, entry in entries.items() if entry is None]
        fetched = await asyncio.gather(*(self._refresh(name, None) for name in missing))
        found = {name: entry for name, entry in entries.items() if entry is not None}
        now = self._clock()
        for name, entry in found.items():
            if entry.refresh_at <= now and name not in self._refreshing:
                self._refresh_later(name, entry)
        found.update(zip(missing, fetched, strict=True))
        return found

    async def _refresh_every_ttl(self) -> None:
        delay = self._settings.ttl
        while True:
            await asyncio.sleep(delay)
            try:
                entries = await self._entries()
            except Exception as exc:  # the state backend may be down for a while; try again later
                logger.warning("asgi_rotator: model discovery could not read its state: %s", exc)
                delay = self._settings.retry
                continue
            soonest = min((e.refresh_at for e in entries.values()), default=self._clock() + self._settings.ttl)
            delay = max(soonest - self._clock(), 1.0)

    def _refresh_later(self, name: str, previous: _Entry) -> None:
        task = asyncio.get_running_loop().create_task(self._refresh_quietly(name, previous))
        self._refreshing[name] = task
        task.add_done_callback(lambda _: self._refreshing.pop(name, None))

    async def _refresh_quietly(self, name: str, previous: _Entry) -> None:
        try:
            await self._refresh(name, previous)
        except Exception as exc:  # a background task has no caller to tell; the last list stays
            logger.warning("asgi_rotator: model discovery for %s failed: %s", name, exc)

    async def _refresh(self, name: str, previous: _Entry | None) -> _Entry:
        """Fetch ``name``'s list and store it; on failure keep ``previous`` and try again after ``retry``."""
        try:
            models = await asyncio.wait_for(self._fetch(name), self._settings.timeout)
            entry = _Entry(models, self._clock() + self._settings.ttl)
        except (GatewayError, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, GatewayError) else "timed out"
            logger.warning("asgi_rotator: model discovery for %s failed: %s", name, reason)
            entry = _Entry(previous.models if previous else [], self._clock() + self._settings.retry)
        payload = _json.dumps({"models": entry.models, "refresh_at": entry.refresh_at})
        await self._backend.set(self._keys.discovered_models(name), payload, self._settings.ttl * _KEEP_FACTOR)
        return entry

    async def _fetch(self, name: str) -> list[str]:
        """Every page of ``name``'s list, with its first credential that works."""
        credentials = self._pool.credentials(name)[:_MAX_CREDENTIALS_TRIED]
        if not credentials:
            raise GatewayError("no_credentials", f"provider {name!r} has no credential to list its models with")
        error: GatewayError | None = None
        for credential in credentials:
            try:
                return await self._pages(name, credential)
            except GatewayError as exc:
                error = exc
        assert error is not None
        raise error

    async def _pages(self, name: str, credential: Credential) -> list[str]:
        provider, protocol = self._providers[name], self._protocols[name]
        models: dict[str, None] = {}  # ordered, without repeats
        token: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            native = protocol.build_model_list(token)
            assert native is not None
            body = await self._transport.get_json(provider, protocol, credential, native, self._settings.timeout)
            page, token = protocol.parse_model_list(body)
            models.update(dict.fromkeys(page))
            if token is None or token in seen:
                break
            seen.add(token)
        return list(models)

    async def aclose(self) -> None:
        """Stop the periodic refresh and cancel refreshes still running."""
        for task in [*self._refreshing.values(), *([self._ticker] if self._ticker else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _decode(raw: bytes | None) -> _Entry | None:
    if raw is None:
        return None
    data = _json.loads(raw)
    return _Entry([str(m) for m in data["models"]], float(data["refresh_at"]))
