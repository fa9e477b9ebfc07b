"""One upstream HTTP exchange: build the request, send it on the shared client, map failures to errors.

Upstream error bodies are scrubbed of the credential before they go anywhere: some providers echo the
key they rejected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import httpx

from .. import _json
from ..config.models import ProviderConfig, ServerConfig
from ..credentials.identity import Credential
from ..errors import UpstreamError
from ..protocols.base import NativeRequest, WireProtocol
from .auth import auth_headers
from .litellm_transport import LITELLM_EXTENSION

_MAX_ERROR_BODY = 64 * 1024


class UpstreamTransport:
    """Sends native requests for the executor on one pooled httpx transport.

    It talks to the transport directly, not through an ``httpx.AsyncClient``: the gateway needs none of a
    client's cookies, auth flows, redirects or URL merging, and skipping them is a large share of the
    per-request cost.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        server: ServerConfig,
        *,
        litellm: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._transport = transport
        #: Serves providers whose protocol goes through LiteLLM in process (``protocol.upstream == "litellm"``).
        self._litellm = litellm
        self._timeout = httpx.Timeout(server.read_timeout, connect=server.connect_timeout)
        self._forward = tuple(h.lower() for h in server.forward_headers)

    def build(
        self,
        provider: ProviderConfig,
        protocol: WireProtocol,
        credential: Credential,
        native: NativeRequest,
        client_headers: Mapping[str, str],
        *,
        timeout: float | None = None,
        content: AsyncIterable[bytes] | None = None,
    ) -> httpx.Request:
        """The HTTP request for ``native``, authenticated with ``credential``.

        ``timeout`` is what is left of the request's budget; it caps the read timeout. ``content`` streams a
        body that is not JSON (an upload) instead of ``native.body``; ``native.headers`` then say its type
        and length.
        """
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if native.stream else "application/json",
        }
        headers.update((name, client_headers[name]) for name in self._forward if name in client_headers)
        headers.update(native.headers)
        headers.update(provider.headers)
        limits = self._timeout if timeout is None else self._capped(timeout)
        extensions: dict[str, Any] = {"timeout": limits.as_dict()}
        url = provider.base_url + native.path
        if protocol.upstream == "litellm":
            # In process: the credential and the base URL go to LiteLLM as arguments, never as headers.
            extensions[LITELLM_EXTENSION] = {"api_key": credential.secret or None, "api_base": provider.base_url}
            url = "http://litellm.invalid" + native.path
        else:
            headers.update(auth_headers(provider, protocol, credential.secret))
        return httpx.Request(
            native.method,
            url,
            params=native.query or None,
            headers=headers,
            content=_json.dumps(native.body) if content is None else content,
            extensions=extensions,
        )

    def _capped(self, budget: float) -> httpx.Timeout:
        budget = max(budget, 0.001)
        read = self._timeout.read
        if read is not None and read <= budget:
            return self._timeout
        return httpx.Timeout(budget, connect=min(self._timeout.connect or budget, budget))

    async def send(
        self, request: httpx.Request, protocol: WireProtocol, credential: Credential, *, stream: bool = False
    ) -> httpx.Response:
        """Send ``request``; a non-2xx answer raises a classified :class:`UpstreamError` (response closed).

        Without ``stream`` the body is read (and the connection released) before returning.
        """
        try:
            transport = self._transport
            if self._litellm is not None and LITELLM_EXTENSION in request.extensions:
                transport = self._litellm
            response = await transport.handle_async_request(request)
            if response.is_success:
                if not stream:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                return response
            try:
                raw = await _read_limited(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise UpstreamError("timeout", f"The upstream did not answer in time ({type(exc).__name__}).") from exc
        except httpx.TransportError as exc:
            raise UpstreamError("api_connection", f"Could not reach the upstream ({type(exc).__name__}).") from exc
        raise error_from_answer(protocol, response.status_code, raw, response.headers, credential)

    async def aclose(self) -> None:
        """Close the transport's connection pool."""
        await self._transport.aclose()
        if self._litellm is not None:
            await self._litellm.aclose()


async def _read_limited(response: httpx.Response) -> bytes:
    """At most about 64 KiB of an error answer: an error body should be small, and a stream may be endless."""
    body = b""
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > _MAX_ERROR_BODY:
            break
    return body


def error_from_answer(
    protocol: WireProtocol, status: int, raw: bytes, headers: Mapping[str, str], credential: Credential
) -> UpstreamError:
    """Classify an upstream error answer, with the credential scrubbed from anything it says."""
    text = raw.decode("utf-8", "replace")
    if credential.secret and credential.secret in text:
        text = text.replace(credential.secret, credential.masked)
    body: Any
    try:
        body = _json.loads(text)
    except _json.JSONDecodeError:
        body = {"error": {"message": text[:500] or f"HTTP {status}"}}
    return protocol.upstream_error(status, body, headers).evolve_upstream(details={"credential": credential.masked})


async def guarded_chunks(
    response: httpx.Response, ttfb_timeout: float | None, stall_timeout: float | None
) -> AsyncIterator[bytes]:
    """The response's raw bytes, failing with ``timeout`` if the first byte or any later gap takes too long."""
    iterator = response.aiter_raw().__aiter__()
    limit, first = ttfb_timeout, True
    while True:
        try:
            async with asyncio.timeout(limit):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            what = "send a first byte" if first else "send anything"
            raise UpstreamError(
                "timeout",
                f"The upstream stream did not {what} within {limit:g}s.",
                details={"stream_timeout": "ttfb" if first else "stall"},
            ) from None
        if chunk:
            first, limit = False, stall_timeout
            yield chunk
