"""The runtime overlay in the state backend: one JSON document and its version (see
:mod:`asgi_rotator.state.keys`), changed under a lock so two replicas never lose each other's change.

In the document a key entry holds only its fingerprint (``key_id``). The secrets go in one ``secrets`` field
sealed with ``state.encryption_key``; without that key they are not written at all and stay in the memory of
the replica that received them.
"""

from __future__ import annotations

import asyncio
import json
import secrets as tokens
import time
from collections.abc import Awaitable, Callable

from ..credentials.sealing import Sealer
from ..errors import GatewayError
from ..state.base import StateBackend
from ..state.keys import Keyspace
from .overlay import Fingerprint, Overlay

#: How long one change may hold the lock: it reads, checks and writes one document, and its check may import
#: LiteLLM (seconds) for the first provider that uses it.
LOCK_TTL = 30.0
#: How long a change waits for another replica's change to finish.
LOCK_WAIT = 5.0


class RuntimeStore:
    """Reads and writes the overlay.

    Args:
        backend: the state backend every replica shares.
        keys: the keyspace.
        fingerprint: a credential's id from its raw key.
        sealer: seals the secrets for the other replicas; None keeps them in ``local``.
        local: the secrets this replica received, by id (it outlives the store, as the app outlives a restart).
    """

    def __init__(
        self,
        backend: StateBackend,
        keys: Keyspace,
        *,
        fingerprint: Fingerprint,
        sealer: Sealer | None,
        local: dict[str, str],
    ) -> None:
        self._backend = backend
        self._keys = keys
        self._fingerprint = fingerprint
        self._sealer = sealer
        self._local = local

    async def version(self) -> int:
        """The newest version any replica wrote (0 before the first change)."""
        raw = await self._backend.get(self._keys.runtime_version())
        return int(raw) if raw else 0

    async def load(self) -> Overlay:
        """The overlay, with every secret this replica can read filled in."""
        raw = await self._backend.get(self._keys.runtime_config())
        if raw is None:
            return Overlay()
        document = json.loads(raw)
        sealed = document.pop("secrets", None)
        shared = self._sealer.open(sealed.encode()) if self._sealer is not None and sealed else None
        known = {**(shared if isinstance(shared, dict) else {}), **self._local}
        overlay = Overlay.from_dict(document)
        for entry in overlay.key_entries():
            secret = known.get(entry.get("key_id", ""))
            if secret is not None:
                del entry["key_id"]
                entry["key"] = secret
        return overlay

    async def change(self, edit: Callable[[Overlay], Overlay], check: Callable[[Overlay], Awaitable[None]]) -> Overlay:
        """Apply ``edit`` to the newest overlay and write it under the next version, unless ``check`` raises
        (then nothing is written).

        Raises:
            GatewayError: 429 when another change holds the lock for longer than :data:`LOCK_WAIT`.
        """
        lock, holder = self._keys.runtime_lock(), tokens.token_hex(8)
        deadline = time.monotonic() + LOCK_WAIT
        while not await self._backend.acquire_lease(lock, holder, 1, LOCK_TTL):
            if time.monotonic() > deadline:
                raise GatewayError("rate_limit", "Another runtime configuration change is in progress.", retry_after=1)
            await asyncio.sleep(0.05)
        try:
            current = await self.load()
            changed = edit(current)
            await check(changed)
            changed.version = current.version + 1
            document, secrets = self._document(changed)
            await self._backend.write_many(
                [
                    ("set", self._keys.runtime_config(), document, None),
                    ("set", self._keys.runtime_version(), str(changed.version).encode(), None),
                ]
            )
            self._local.update(secrets)
            return changed
        finally:
            await self._backend.write_many([("release", lock, holder, None)])

    def _document(self, overlay: Overlay) -> tuple[bytes, dict[str, str]]:
        """The document to store, and the secrets it stands for (sealed into it when there is a key)."""
        stored = Overlay.from_dict(overlay.to_dict())
        secrets: dict[str, str] = {}
        for entry in stored.key_entries():
            secret = entry.pop("key", None)
            if isinstance(secret, str):
                secret = secret.strip()
                entry["key_id"] = ident = self._fingerprint(secret)
                secrets[ident] = secret
        document = stored.to_dict()
        if self._sealer is not None and secrets:
            document["secrets"] = self._sealer.seal(secrets).decode()
        return json.dumps(document).encode(), secrets
