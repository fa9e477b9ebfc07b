"""``app.runtime``: add, change and remove providers, scopes and credentials while the gateway runs.

A change is checked as the whole configuration it makes (the file's plus every runtime change), by the same
validation as the file and the app's own checks; an invalid one raises and writes nothing. A valid one is
written to the state backend under a new version and applied here at once; every other replica notices the
version within ``state.runtime_poll_interval`` seconds and applies it too, and a replica that starts later
loads it at startup. The ``/rotator/config`` admin routes call these same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..config.loader import validate_config
from ..config.models import RotatorConfig
from ..credentials.identity import fingerprint
from ..credentials.sealing import Sealer
from ..errors import BackendError, ConfigError, GatewayError, MissingDependency, invalid_request
from ..state.base import StateBackend
from ..state.keys import Keyspace
from .overlay import Overlay
from .store import RuntimeStore

logger = logging.getLogger("asgi_rotator")

_NOT_SHARED = (
    "state.encryption_key is not set: credentials and client keys added at runtime serve only the replica that "
    "received them (every other change reaches every replica)."
)


class RuntimeConfig:
    """Runtime changes to the configuration, for one app (see the module docstring).

    Each change method returns what :meth:`view` returns after the change, and raises
    :class:`~asgi_rotator.errors.GatewayError`: ``invalid_request`` (400, ``param`` names the field) for a
    change that would make an invalid configuration, ``not_found`` (404) for a provider, scope or credential
    that does not exist.

    Args:
        base: the configuration the app was built with (the file).
        start: starts the app (idempotent); the methods work without a server or lifespan.
        check: the app's checks beyond validation (protocols, adapters, rules); raises ConfigError.
        apply: swaps in a gateway built from a new configuration.
    """

    def __init__(
        self,
        base: RotatorConfig,
        *,
        start: Callable[[], Awaitable[object]],
        check: Callable[[RotatorConfig], Awaitable[None]],
        apply: Callable[[RotatorConfig], Awaitable[None]],
    ) -> None:
        self._base = base
        self._start, self._check, self._apply = start, check, apply
        key = base.state.fingerprint_key
        secret = key.get_secret_value().encode() if key is not None else None
        self._fingerprint: Callable[[str], str] = lambda raw: fingerprint(raw, secret)
        sealing = base.state.encryption_key
        self._sealer = Sealer(sealing.get_secret_value()) if sealing is not None else None
        self._local: dict[str, str] = {}
        self._store: RuntimeStore | None = None
        self._applied = 0
        self._applying = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RuntimeConfig(applied_version={self._applied})"

    # -- the app's lifecycle -------------------------------------------------------------------------------

    async def attach(self, backend: StateBackend, keys: Keyspace) -> RotatorConfig:
        """Read the runtime changes at startup and start polling for newer ones; returns the configuration to
        start with (the file alone when the stored changes do not apply here, which is logged)."""
        self._store = RuntimeStore(backend, keys, fingerprint=self._fingerprint, sealer=self._sealer, local=self._local)
        config = self._base
        try:
            overlay = await self._store.load()
        except BackendError as exc:
            logger.warning("asgi_rotator: runtime configuration changes not read yet (%s); the poll retries", exc)
            self._applied = -1  # no version is -1: the first poll that reaches the backend applies the newest
        else:
            try:
                config = await self._effective(overlay)
            except (ConfigError, MissingDependency) as exc:
                logger.error("asgi_rotator: runtime configuration version %d does not apply: %s", overlay.version, exc)
            self._applied = overlay.version
        self._poller = asyncio.create_task(self._poll(self._base.state.runtime_poll_interval))
        return config

    async def detach(self) -> None:
        """Stop polling (at shutdown)."""
        poller, self._poller, self._store = self._poller, None, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def sync(self) -> None:
        """Apply the newest version another replica wrote, if this replica has not yet (the poll does this
        every ``state.runtime_poll_interval`` seconds)."""
        store = await self._started()
        if await store.version() == self._applied:
            return
        async with self._applying:
            overlay = await store.load()
            if overlay.version == self._applied:
                return
            try:
                config = await self._effective(overlay)
            except (ConfigError, MissingDependency) as exc:
                logger.error("asgi_rotator: runtime configuration version %d does not apply: %s", overlay.version, exc)
            else:
                await self._apply(config)
            self._applied = overlay.version

    # -- reading and changing ------------------------------------------------------------------------------

    async def view(self) -> dict[str, Any]:
        """The runtime changes, secrets masked: ``providers``, ``removed_providers``, ``credentials`` (added
        to providers of the file), ``removed_credentials``, ``scopes``, ``removed_scopes``, the stored
        ``version`` and the ``applied_version`` of this replica, and ``secrets_shared``."""
        store = await self._started()
        return self._answer(await store.load())

    async def put_provider(self, name: str, provider: Mapping[str, Any]) -> dict[str, Any]:
        """Add provider ``name``, or replace it whole, with the fields a config file gives a provider
        (``protocol``, ``base_url``, ``credentials`` ...)."""
        return await self._change(lambda overlay: overlay.put_provider(name, provider))

    async def remove_provider(self, name: str) -> dict[str, Any]:
        """Remove provider ``name`` (one of the file's or one added at runtime)."""
        return await self._change(lambda overlay: overlay.remove_provider(name, self._base))

    async def add_credential(self, provider: str, credential: str | Mapping[str, Any]) -> dict[str, Any]:
        """Add a credential to ``provider``: a key, or ``{key, priority, max_concurrency, rpm, tpm, daily}``."""
        entry = dict(credential) if isinstance(credential, Mapping) else credential
        return await self._change(lambda o: o.add_credential(provider, entry, self._base, self._fingerprint))

    async def remove_credential(self, provider: str, credential: str) -> dict[str, Any]:
        """Remove the credential of ``provider`` whose id or masked form (``...abcd``, as
        ``/rotator/credentials`` shows them) is ``credential``."""
        return await self._change(lambda o: o.remove_credential(provider, credential, self._base, self._fingerprint))

    async def put_scope(self, name: str, scope: Mapping[str, Any]) -> dict[str, Any]:
        """Add scope ``name``, or replace it whole: ``providers`` (its own credentials per provider),
        ``fallback_to_global``, and ``api_keys``, the client keys that belong to it."""
        return await self._change(lambda overlay: overlay.put_scope(name, scope))

    async def remove_scope(self, name: str) -> dict[str, Any]:
        """Remove scope ``name`` (and the client keys a runtime change gave it)."""
        return await self._change(lambda overlay: overlay.remove_scope(name, self._base))

    async def reset(self) -> dict[str, Any]:
        """Drop every runtime change: back to the configuration file."""
        return await self._change(lambda overlay: Overlay(version=overlay.version))

    # -- internals -----------------------------------------------------------------------------------------

    async def _change(self, edit: Callable[[Overlay], Overlay]) -> dict[str, Any]:
        store = await self._started()
        checked: list[RotatorConfig] = []

        async def check(overlay: Overlay) -> None:
            checked.append(await self._effective(overlay))

        async with self._applying:
            try:
                overlay = await store.change(edit, check)
            except ConfigError as exc:
                raise invalid_request(str(exc), param=_field(str(exc))) from None
            except MissingDependency as exc:
                raise invalid_request(str(exc)) from None
            except LookupError as exc:
                raise GatewayError("not_found", str(exc.args[0])) from None
            await self._apply(checked[-1])
            self._applied = overlay.version
        return self._answer(overlay)

    async def _effective(self, overlay: Overlay) -> RotatorConfig:
        config = validate_config(overlay.apply(self._base, self._fingerprint))
        await self._check(config)
        return config

    async def _started(self) -> RuntimeStore:
        await self._start()
        assert self._store is not None  # the app attaches at startup
        return self._store

    def _answer(self, overlay: Overlay) -> dict[str, Any]:
        answer = {**overlay.masked(self._fingerprint), "applied_version": self._applied}
        answer["secrets_shared"] = self._sealer is not None
        if self._sealer is None:
            answer["note"] = _NOT_SHARED
        return answer

    async def _poll(self, interval: float) -> None:
        # Not ``while True``: a client library may turn the cancellation that ``detach`` sends into an
        # ordinary error (caught below), and the poll must still end.
        poller = asyncio.current_task()
        while poller is self._poller:
            await asyncio.sleep(interval)
            if poller is not self._poller:
                return
            try:
                await self.sync()
            except Exception as exc:  # a Redis outage, say: the next poll tries again
                logger.warning("asgi_rotator: checking for runtime configuration changes failed: %s", exc)


def _field(message: str) -> str | None:
    """The field a :class:`ConfigError` names: its messages start with the field's dotted path."""
    # A check of the whole configuration is reported at its root ("config: scopes.x...: ...").
    where, sep, _ = message.removeprefix("invalid configuration: ").removeprefix("config: ").partition(": ")
    return where.split(" ")[0] if sep else None
