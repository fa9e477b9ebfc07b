"""The gateway's upstream HTTP client: aiohttp behind httpx's transport interface.

Chosen by measurement (docs/performance.md, "Choosing the upstream HTTP client"): at the gateway's operating
point aiohttp costs about a tenth of the CPU per request of httpcore's pool, which probes every pooled
connection on every request. Speaking httpx's ``AsyncBaseTransport`` keeps one request and response type for
the whole gateway, so ``upstream_transport=httpx.ASGITransport(...)`` stays the test seam and httpx still
decodes compressed bodies, whichever transport carried them.

aiohttp's errors become httpx's (timeouts as timeouts, everything else a transport error), so the
executor classifies failures the same way on either transport.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import certifi
import httpx
from yarl import URL

from ..config.models import ServerConfig
from ..slots import take_slot


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Pooled upstream connections on one ``aiohttp.ClientSession``, opened on first use.

    A request takes one of ``server.max_connections`` slots for as long as its response is open and waits at
    most ``server.pool_timeout`` for one (``httpx.PoolTimeout``, a local condition, not an upstream timeout).
    Proxies come from ``server.proxy`` or the environment (``HTTP(S)_PROXY`` and ``NO_PROXY``, read once at
    construction: aiohttp's own ``trust_env`` reads them and ``~/.netrc``, on a thread, for every request);
    no cookies are kept (one tenant's upstream cookies must never reach another's request); answers are
    passed on undecoded for httpx to decode.
    """

    def __init__(self, server: ServerConfig) -> None:
        self._server = server
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(server.max_connections)
        self._pool_timeout = server.pool_timeout
        self._env_proxies = {} if server.proxy else urllib.request.getproxies_environment()
        self._proxy_for: dict[tuple[str, str], str | None] = {}

    def _open_session(self) -> aiohttp.ClientSession:
        """A session on the running loop. The Python API may be driven by one ``asyncio.run`` after another:
        a session (and the slots' waiters) from an earlier loop is dropped, its connections with that loop."""
        loop = asyncio.get_running_loop()
        if self._session is not None:
            stale, self._session = self._session, None
            stale.detach()  # its loop is gone or is not this one: nothing of it can be awaited here
            self._slots = asyncio.Semaphore(self._server.max_connections)
        self._loop = loop
        server = self._server
        tls: ssl.SSLContext | bool = False
        if server.verify_tls:
            tls = ssl.create_default_context(cafile=server.ca_bundle or certifi.where())
        connector = aiohttp.TCPConnector(limit=0, ssl=tls, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the returned response holds its connection slot until it is closed."""
        await self._take_slot()
        try:
            return await self._send(request)
        except BaseException:
            self._slots.release()
            raise

    async def _take_slot(self) -> None:
        if not await take_slot(self._slots, self._pool_timeout):
            raise httpx.PoolTimeout(
                f"no free upstream connection within {self._pool_timeout:g}s ({self._server.max_connections} in use)"
            )

    async def _send(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop():
            session = self._open_session()
        timeout = request.extensions.get("timeout") or {}
        headers = request.headers
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # type: ignore[assignment]  # an upload, streamed as it is read
            headers = headers.copy()
            headers.pop("transfer-encoding", None)  # aiohttp chunks the body itself
        with _mapped:
            response = await session.request(
                request.method,
                _url(str(request.url)),
                headers=headers.multi_items(),
                data=data,
                allow_redirects=False,
                proxy=self._proxy(request.url),
                timeout=_timeout(timeout.get("connect"), timeout.get("read")),
                skip_auto_headers=_NO_AUTO_HEADERS,
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, self._slots),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    def _proxy(self, url: httpx.URL) -> str | None:
        """The proxy for ``url``: the configured one, else the environment's for its scheme unless ``NO_PROXY``
        names its host (decided once per scheme and host)."""
        if self._server.proxy or not self._env_proxies:
            return self._server.proxy
        origin = (url.scheme, url.host)
        if origin not in self._proxy_for:
            bypass = "no" in self._env_proxies and urllib.request.proxy_bypass(url.host)
            self._proxy_for[origin] = None if bypass else self._env_proxies.get(url.scheme)
        return self._proxy_for[origin]

    async def aclose(self) -> None:
        """Close every pooled connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _Body(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it; closing it gives the connection back (or closes it when
    the body was not read to its end) and frees the request's slot."""

    def __init__(self, response: aiohttp.ClientResponse, slots: asyncio.Semaphore) -> None:
        self._response = response
        self._slots: asyncio.Semaphore | None = slots

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped:
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()


#: Headers aiohttp would add on its own: the gateway sends its own user-agent and accept headers, or none.
_NO_AUTO_HEADERS = frozenset({"User-Agent", "Accept", "Accept-Encoding"})


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> URL:
    """httpx already normalised and percent-encoded the URL; parsing it again per request is wasted work."""
    return URL(url, encoded=True)


@functools.lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class _Mapped:
    """aiohttp's exceptions as httpx's, so callers handle one family (a class: it wraps every request and body)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            raise httpx.ConnectTimeout(str(exc) or "connect timeout") from exc
        if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
            raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            raise httpx.ProxyError(str(exc)) from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            raise httpx.ConnectError(str(exc)) from exc
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        if isinstance(exc, aiohttp.ClientError | OSError):
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


_mapped = _Mapped()
