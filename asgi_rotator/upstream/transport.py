"""One upstream HTTP exchange: build the request, send it on the shared client, map failures to errors.

Upstream error bodies are scrubbed of the credential before they go anywhere: some providers echo the
key they rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from .. import _json
from ..config.models import ProviderConfig, ServerConfig
from ..credentials.identity import Credential
from ..errors import GatewayError, UpstreamError
from ..planner import Target
from ..protocols.base import NativeRequest, WireProtocol
from ..tracing.redaction import secret_forms
from .auth import auth_headers
from .litellm_transport import LITELLM_EXTENSION
from .waits import WaitDeadline

_MAX_ERROR_BODY = 64 * 1024
#: How long a finished stream's leftovers may take to arrive before its connection is closed instead of reused.
_DRAIN_SECONDS = 0.05


class UpstreamTransport:
    """Sends native requests for the executor on one pooled transport (the gateway's
    :class:`~asgi_rotator.upstream.aiohttp_transport.AiohttpTransport`, or the one a test passes in).

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
        self._max_body = server.max_upstream_body_bytes
        self._user_agent = server.user_agent

    def build(
        self,
        target: Target,
        credential: Credential,
        native: NativeRequest,
        client_headers: Mapping[str, str],
        *,
        timeout: float | None = None,
        content: AsyncIterable[bytes] | None = None,
    ) -> httpx.Request:
        """The HTTP request for ``native`` to ``target``'s provider and model, authenticated with ``credential``.

        ``timeout`` is what is left of the request's budget; it caps the read timeout. ``content`` streams a
        body that is not JSON (an upload) instead of ``native.body``; ``native.headers`` then say its type
        and length.
        """
        provider, protocol, model = target.config, target.protocol, target.model
        headers = {
            "user-agent": self._user_agent,
            "content-type": "application/json",
            "accept": "text/event-stream" if native.stream else "application/json",
            # Compressed answers are decoded if an upstream sends them anyway; asking for none saves the work.
            "accept-encoding": "identity",
        }
        headers.update((name, client_headers[name]) for name in self._forward if name in client_headers)
        client_betas = headers.get("anthropic-beta")
        headers.update(native.headers)
        headers.update(provider.headers)
        if client_betas and "anthropic-beta" in provider.headers:
            # A provider's betas (Claude Code's oauth beta) join the client's instead of replacing them.
            merged = dict.fromkeys(b.strip() for b in f"{provider.headers['anthropic-beta']},{client_betas}".split(","))
            headers["anthropic-beta"] = ",".join(b for b in merged if b)
        extensions: dict[str, Any] = {"timeout": self._timeouts(timeout)}
        url = upstream_url(credential.base_url or provider.base_url, native, model)
        if protocol.upstream == "litellm":
            # In process: the credential and the base URL go to LiteLLM as arguments, never as headers.
            extensions[LITELLM_EXTENSION] = {"api_key": credential.secret or None, "api_base": provider.base_url}
            url = "http://litellm.invalid" + native.path
        else:
            headers.update(auth_headers(provider, protocol, credential.secret))
        params = {**provider.query, **native.query} or None
        if content is not None:
            return httpx.Request(
                native.method, _parsed(url), params=params, headers=headers, content=content, extensions=extensions
            )
        # The body is whole: give httpx the stream and the headers it would derive (its own derivation builds
        # the header list twice over, through MutableMapping's generic methods).
        body = _json.dumps(native.body)
        parsed = _parsed(url) if params is None else httpx.URL(url, params=params)
        headers.setdefault("host", parsed.netloc.decode("ascii"))
        headers["content-length"] = str(len(body))
        request = httpx.Request(
            native.method, parsed, headers=headers, stream=httpx.ByteStream(body), extensions=extensions
        )
        request.read()
        return request

    async def get_json(
        self,
        provider: ProviderConfig,
        protocol: WireProtocol,
        credential: Credential,
        native: NativeRequest,
        timeout: float,
    ) -> Any:
        """GET ``native`` (a listing, say) outside any request's budget; a non-2xx answer raises UpstreamError."""
        headers = {"user-agent": self._user_agent, "accept": "application/json", **native.headers, **provider.headers}
        headers.update(auth_headers(provider, protocol, credential.secret))
        request = httpx.Request(
            "GET",
            upstream_url(credential.base_url or provider.base_url, native, ""),
            params={**provider.query, **native.query} or None,
            headers=headers,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        content, _ = await self.send(request, protocol, credential, deadline=timeout)
        try:
            return _json.loads(content)
        except _json.JSONDecodeError:
            raise UpstreamError("upstream_invalid", "The upstream's answer is not JSON.") from None

    def _timeouts(self, budget: float | None) -> dict[str, float | None]:
        """The transport's timeouts for an attempt with ``budget`` seconds left: the read timeout is capped by
        the budget, rounded up to a whole second (the attempt's own deadline is exact; rounding lets the few
        distinct values be built once)."""
        read = self._timeout.read
        if budget is not None and (read is None or budget < read):
            read = float(math.ceil(budget)) if budget >= 1 else max(budget, 0.001)
        return _timeout_extension(self._timeout.connect, read)

    async def send(
        self, request: httpx.Request, protocol: WireProtocol, credential: Credential, *, deadline: float
    ) -> tuple[bytes, str]:
        """Send ``request`` and return its whole (decoded) body, at most ``server.max_upstream_body_bytes``, and
        its content type (an upstream that only streams answers SSE even to a non-streamed request).

        ``deadline`` (seconds) bounds the entire exchange, so an upstream that drips a byte at a time cannot
        stretch it past the request's budget. A non-2xx answer raises a classified :class:`UpstreamError`.
        """
        async with _mapped_errors:
            try:
                async with asyncio.timeout(deadline):
                    response = await self._open(request, protocol, credential)
                    try:
                        return await self._read_body(response), response.headers.get("content-type", "")
                    finally:
                        await response.aclose()
            except TimeoutError:
                message = "The upstream did not finish its answer within the request's budget."
                raise UpstreamError("timeout", message) from None

    async def open_stream(
        self, request: httpx.Request, protocol: WireProtocol, credential: Credential
    ) -> httpx.Response:
        """Send ``request`` and return the open response of a 2xx answer (the caller closes it); a non-2xx
        answer raises a classified :class:`UpstreamError`."""
        async with _mapped_errors:
            return await self._open(request, protocol, credential)

    async def _open(self, request: httpx.Request, protocol: WireProtocol, credential: Credential) -> httpx.Response:
        transport = self._transport
        if self._litellm is not None and LITELLM_EXTENSION in request.extensions:
            transport = self._litellm
        response = await transport.handle_async_request(request)
        if response.is_success:
            return response
        try:
            raw = await _read_limited(response)
        finally:
            await response.aclose()
        raise error_from_answer(protocol, response.status_code, raw, response.headers, credential)

    async def _read_body(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in body_chunks(response):
            body += chunk
            if len(body) > self._max_body:
                raise UpstreamError("upstream_invalid", f"The upstream's answer is larger than {self._max_body} bytes.")
        return bytes(body)


class _MappedErrors:
    """httpx's exceptions as the gateway's, the most specific first (as httpx maps httpcore's). A class, not
    ``asynccontextmanager``: it wraps every upstream request, and a generator-based one costs seven times as
    much."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, httpx.TransportError | httpx.DecodingError):
            return
        if isinstance(exc, httpx.PoolTimeout):
            # Local congestion, not the upstream's fault: nothing is cooled, and the client may retry shortly.
            message = f"The gateway has no free upstream connection ({exc}); retry shortly."
            raise GatewayError("no_credentials", message, retry_after=1) from exc
        if isinstance(exc, httpx.TimeoutException):
            raise UpstreamError("timeout", f"The upstream did not answer in time ({type(exc).__name__}).") from exc
        if isinstance(exc, httpx.DecodingError):
            raise UpstreamError("upstream_invalid", f"The upstream's answer could not be decoded ({exc}).") from exc
        raise UpstreamError("api_connection", f"Could not reach the upstream ({type(exc).__name__}).") from exc


_mapped_errors = _MappedErrors()


@functools.lru_cache(maxsize=1024)
def _timeout_extension(connect: float | None, read: float | None) -> dict[str, float | None]:
    """httpx's ``timeout`` request extension (transports only read it, so one dict serves every request)."""
    connect = min(connect, read) if connect is not None and read is not None else connect
    return httpx.Timeout(read, connect=connect).as_dict()


@functools.lru_cache(maxsize=4096)
def _parsed(url: str) -> httpx.URL:
    """A provider's few distinct URLs, parsed once: httpx would otherwise parse and validate each per request."""
    return httpx.URL(url)


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The response's body as sent, decoded when it is compressed (httpx's decoding layer is skipped when there
    is nothing to decode: one generator and one copy less per chunk)."""
    if response.is_stream_consumed or "content-encoding" in response.headers:  # already read: from memory
        return response.aiter_bytes()
    return response.aiter_raw()


def upstream_url(base: str, native: NativeRequest, model: str) -> str:
    """The URL of ``native``: the provider's base URL with ``{model}`` filled in, then the protocol's path.

    The model is percent-encoded (``/`` included) wherever it enters the URL, so a name cannot change the path.
    """
    if "{model}" in base:
        base = base.replace("{model}", quote(model, safe=""))
    return base + native.path


async def _read_limited(response: httpx.Response) -> bytes:
    """At most about 64 KiB of an error answer: an error body should be small, and a stream may be endless."""
    body = b""
    async for chunk in body_chunks(response):
        body += chunk
        if len(body) > _MAX_ERROR_BODY:
            break
    return body


def error_from_answer(
    protocol: WireProtocol, status: int, raw: bytes, headers: Mapping[str, str], credential: Credential
) -> UpstreamError:
    """Classify an upstream error answer, with the credential scrubbed from anything it says."""
    text = raw.decode("utf-8", "replace")
    if credential.secret:
        # Some providers echo the key they rejected, plainly or encoded.
        for form in secret_forms(credential.secret):
            text = text.replace(form, credential.masked)
    body: Any
    try:
        body = _json.loads(text)
    except _json.JSONDecodeError:
        body = {"error": {"message": text[:500] or f"HTTP {status}"}}
    return protocol.upstream_error(status, body, headers).evolve_upstream(details={"credential": credential.masked})


async def drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what is left of a finished stream (usually just the chunked body's terminator) so its connection
    goes back to the pool instead of being closed: a new connection per stream costs a TLS handshake each.

    An upstream that keeps talking past its terminal event is cut off after a short wait or 64 KiB.
    """
    read = 0
    with contextlib.suppress(UpstreamError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for chunk in chunks:
                read += len(chunk)
                if read > _MAX_ERROR_BODY:
                    return


async def guarded_chunks(
    response: httpx.Response, ttfb_timeout: float | None, stall_timeout: float | None
) -> AsyncIterator[bytes]:
    """The response's (decoded) bytes, failing with ``timeout`` if the first byte or any later gap takes too
    long, and with ``api_connection`` (or ``upstream_invalid`` for bad compression) if the upstream breaks off."""
    iterator = body_chunks(response).__aiter__()
    limit, first = ttfb_timeout, True
    deadline = WaitDeadline()
    try:
        while True:
            deadline.start(limit)
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError as exc:
                if not deadline.expired_by(exc):
                    raise
                what = "send a first byte" if first else "send anything"
                raise UpstreamError(
                    "timeout",
                    f"The upstream stream did not {what} within {limit:g}s.",
                    details={"stream_timeout": "ttfb" if first else "stall"},
                ) from None
            except httpx.DecodingError as exc:
                raise UpstreamError("upstream_invalid", f"The upstream stream could not be decoded ({exc}).") from exc
            except httpx.TransportError as exc:
                raise UpstreamError("api_connection", f"The upstream stream broke off ({type(exc).__name__}).") from exc
            finally:
                deadline.stop()
            if chunk:
                first, limit = False, stall_timeout
                yield chunk
    finally:
        deadline.close()
