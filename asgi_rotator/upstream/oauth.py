"""OAuth credentials at request time: the current access token of each, renewed once across requests and replicas.

A credential is OAuth-managed when it is an ``oauth_file`` entry, or any credential of a provider whose
``token_flow`` is ``copilot_exchange`` (there the configured key is a GitHub token, exchanged for a
short-lived Copilot token). Before each attempt the executor asks :meth:`OAuthCredentials.live` for the
credential with its current token; a token expiring within five minutes is renewed first. A 401 calls
:meth:`OAuthCredentials.after_rejection`, which renews unless another request already did.

Renewal is single-flight: one per credential in this process (an asyncio lock) and one across replicas (a
lease of limit 1 in the state backend). Whoever waits re-reads what the winner left: the credential file
when it changed on disk, and the encrypted copy in the state backend when ``state.encryption_key`` is set.
The winner writes the file back atomically and publishes the encrypted tokens.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..config.models import RotatorConfig
from ..credentials.identity import Credential
from ..credentials.oauth import files
from ..credentials.oauth.files import CredentialFile
from ..credentials.oauth.sharing import TokenSealer
from ..credentials.oauth.tokens import OAuthTokens
from ..errors import OAuthFileError, UpstreamError
from ..state.base import StateBackend
from ..state.keys import Keyspace
from .token_endpoint import TokenEndpoint

logger = logging.getLogger("asgi_rotator")

#: Renew a token this many seconds before it expires.
REFRESH_AHEAD = 300.0
#: How long one replica may hold the renewal lock (a renewal is one HTTP call with a 30 s timeout).
LOCK_TTL = 45.0
#: How long a request waits for another replica's renewal before giving up on this credential for now.
LOCK_WAIT = 20.0
#: How long encrypted tokens stay in the state backend after their last renewal.
SHARED_TTL = 30 * 86400.0
_POLL = 0.05


class OAuthCredentials:
    """The current tokens of every OAuth credential, renewed ahead of expiry and after a rejection.

    Args:
        config: the validated configuration (providers' token settings, ``state.encryption_key``).
        backend: the state backend that holds the renewal lock and the shared encrypted tokens.
        keys: the keyspace.
        endpoint: what calls the token endpoints.
        on_secret: called with every token value as it appears, so traces can redact it.
    """

    def __init__(
        self,
        config: RotatorConfig,
        backend: StateBackend,
        keys: Keyspace,
        endpoint: TokenEndpoint,
        *,
        on_secret: Callable[[str], None] = lambda secret: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._providers = config.providers
        self._backend = backend
        self._keys = keys
        self._endpoint = endpoint
        self._on_secret = on_secret
        self._clock = clock
        key = config.state.encryption_key
        self._sealer = TokenSealer(key.get_secret_value()) if key is not None else None
        self._files: dict[str, CredentialFile] = {}
        self._tokens: dict[str, OAuthTokens] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def manages(self, credential: Credential) -> bool:
        """True when ``credential``'s token is renewed here."""
        if credential.oauth_file is not None:
            return True
        provider = self._providers.get(credential.provider)
        return provider is not None and provider.token_flow == "copilot_exchange"

    async def live(self, credential: Credential) -> Credential:
        """``credential`` carrying its current token (renewed first when it expires within five minutes).

        Raises:
            UpstreamError: ``authentication`` when the file is unusable or the token endpoint refuses it (the
                credential is benched; others keep serving), or a transient kind when the endpoint failed.
        """
        if not self.manages(credential):
            return credential
        tokens = self._tokens.get(credential.id) or self._load(credential)
        if not self._usable(tokens):
            tokens = await self._renew(credential, stale=tokens.access_token)
        if self._providers[credential.provider].project_discovery and "project_id" not in tokens.fields:
            tokens = await self._discover(credential)
        return self._apply(credential, tokens)

    async def after_rejection(self, credential: Credential) -> Credential:
        """The upstream answered 401 to ``credential``'s token: renew it (unless another request already did)."""
        tokens = self._tokens.get(credential.id) or self._load(credential)
        rejected = tokens.access_token if tokens.secret == credential.secret else ""
        return self._apply(credential, await self._renew(credential, stale=rejected))

    def status(self, credential: Credential) -> dict[str, Any] | None:
        """``{expires_in, last_refresh}`` (or ``{error}``) for ``/rotator/credentials``; never a token."""
        if not self.manages(credential):
            return None
        try:
            tokens = self._tokens.get(credential.id) or self._load(credential)
        except UpstreamError as exc:
            return {"expires_in": None, "last_refresh": None, "error": exc.message}
        expires_in = tokens.expires_in(self._clock())
        return {
            "expires_in": None if expires_in is None else round(expires_in, 1),
            "last_refresh": tokens.last_refresh,
        }

    # -- internals ---------------------------------------------------------------------------------------

    def _load(self, credential: Credential) -> OAuthTokens:
        if credential.oauth_file is None:  # a Copilot credential configured as a bare GitHub token
            tokens = OAuthTokens(refresh_token=credential.secret)
        else:
            try:
                read = files.read(credential.oauth_file)
            except OAuthFileError as exc:
                raise UpstreamError("authentication", str(exc)) from None
            self._files[credential.id] = read
            tokens = read.tokens
        self._remember(credential, tokens)
        return tokens

    def _remember(self, credential: Credential, tokens: OAuthTokens) -> None:
        self._tokens[credential.id] = tokens
        for secret in tokens.secrets():
            self._on_secret(secret)

    def _usable(self, tokens: OAuthTokens, stale: str | None = None) -> bool:
        if not tokens.access_token or tokens.access_token == stale:
            return False
        left = tokens.expires_in(self._clock())
        return left is None or left > REFRESH_AHEAD

    async def _renew(self, credential: Credential, *, stale: str) -> OAuthTokens:
        lock = self._locks.setdefault(credential.id, asyncio.Lock())
        async with lock:
            current = self._tokens[credential.id]
            if current.access_token != stale and self._usable(current):
                return current  # another request of this replica renewed it while we waited
            found = await self._adopt(credential, stale)
            if found is not None:
                return found
            key, holder = self._keys.oauth_lock(credential), secrets.token_hex(8)
            deadline = time.monotonic() + LOCK_WAIT
            while not await self._backend.acquire_lease(key, holder, 1, LOCK_TTL):
                if time.monotonic() > deadline:
                    raise UpstreamError("server_error", f"{self._name(credential)}: another replica's renewal stalled")
                await asyncio.sleep(_POLL)
                found = await self._adopt(credential, stale)
                if found is not None:
                    return found
            try:
                found = await self._adopt(credential, stale)  # the holder before us may have just finished
                if found is not None:
                    return found
                return await self._renew_now(credential)
            finally:
                await self._backend.write_many([("release", key, holder, None)])

    async def _renew_now(self, credential: Credential) -> OAuthTokens:
        provider = self._providers[credential.provider]
        try:
            renewed = await self._endpoint.renew(provider, self._tokens[credential.id])
        except UpstreamError as exc:
            logger.warning("asgi_rotator: %s: %s", self._name(credential), exc.message)
            raise UpstreamError(
                exc.kind,
                f"{self._name(credential)}: {exc.message}",
                upstream_status=exc.upstream_status,
                retry_after=exc.retry_after,
            ) from None
        self._remember(credential, renewed)
        written = self._files.get(credential.id)
        if written is not None:
            await asyncio.to_thread(files.write, written, renewed)
        if self._sealer is not None:
            await self._backend.set(self._keys.oauth_tokens(credential), self._sealer.seal(renewed), SHARED_TTL)
        return renewed

    async def _discover(self, credential: Credential) -> OAuthTokens:
        """Find the credential's Code Assist project once, and keep it in its file."""
        async with self._locks.setdefault(credential.id, asyncio.Lock()):
            tokens = self._tokens[credential.id]
            if "project_id" in tokens.fields:
                return tokens
            try:
                project = await self._endpoint.discover_project(self._providers[credential.provider], tokens)
            except UpstreamError as exc:
                logger.warning("asgi_rotator: %s: %s", self._name(credential), exc.message)
                raise UpstreamError(exc.kind, f"{self._name(credential)}: {exc.message}") from None
            tokens = replace(tokens, fields={**tokens.fields, "project_id": project})
            self._tokens[credential.id] = tokens
            written = self._files.get(credential.id)
            if written is not None:
                await asyncio.to_thread(files.write, written, tokens)
            return tokens

    async def _adopt(self, credential: Credential, stale: str) -> OAuthTokens | None:
        """Usable tokens another process left (in the file or, encrypted, in the state backend), else None."""
        current = self._tokens[credential.id]
        candidates: list[OAuthTokens] = []
        known = self._files.get(credential.id)
        if known is not None and files.modified_since(known):
            try:
                fresh = files.read(known.path)
            except OAuthFileError:
                fresh = None
            if fresh is not None:
                self._files[credential.id] = fresh
                candidates.append(fresh.tokens)
        if self._sealer is not None:
            sealed = await self._backend.get(self._keys.oauth_tokens(credential))
            shared = self._sealer.open(sealed, current) if sealed else None
            if shared is not None and (shared.last_refresh or 0) > (current.last_refresh or 0):
                candidates.append(shared)
        for tokens in candidates:
            if self._usable(tokens, stale):
                self._remember(credential, tokens)
                return tokens
            if tokens.refresh_token and tokens.refresh_token != current.refresh_token:
                current = tokens  # a newer (rotated) refresh token is worth keeping even if the access token is old
                self._remember(credential, tokens)
        return None

    def _apply(self, credential: Credential, tokens: OAuthTokens) -> Credential:
        fields = {k: v for k, v in tokens.fields.items() if k != "api_base"}
        base = None
        if self._providers[credential.provider].credential_base_url:
            base = tokens.fields.get("api_base") or _resource_base(tokens.fields.get("resource_url"))
        return replace(credential, secret=tokens.secret, fields=fields, base_url=base)

    @staticmethod
    def _name(credential: Credential) -> str:
        return f"OAuth credential {credential.oauth_file or credential.masked}"


def _resource_base(resource_url: str | None) -> str | None:
    """Qwen's ``resource_url`` (``portal.qwen.ai``) as an OpenAI base URL (``https://portal.qwen.ai/v1``)."""
    if not resource_url:
        return None
    base = resource_url if "://" in resource_url else f"https://{resource_url}"
    base = base.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"
