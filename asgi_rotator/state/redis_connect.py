"""Redis clients from ``state.url``: a server, TLS, or a Sentinel-managed primary.

    redis://[user:password@]host:6379/0                   one server
    rediss://[user:password@]host:6380/0?ssl_cert_reqs=required   TLS (redis-py's query options apply)
    redis+sentinel://[user:password@]s1:26379,s2:26379/mymaster/0  the primary Sentinel names (rediss+sentinel: TLS)

Every client gets short timeouts (a dead Redis fails a request in seconds, never hangs it) and a retry of
connection errors: after a Redis restart every pooled connection is stale, and each would otherwise fail
once. Timeouts are not retried: a stalled Redis may still run the command when it wakes up.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from ..errors import ConfigError

_SENTINEL_PORT = 26379


def connection_options() -> dict[str, Any]:
    """Timeouts and retries for every connection the gateway opens."""
    return {
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 30,
        # Connection errors only: redis-py's default also retries timeouts, which would run a stalled command twice.
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(RedisConnectionError,)),
        "retry_on_error": [RedisConnectionError],
    }


def client_from_url(url: str) -> aioredis.Redis:
    """A client for ``url`` (the forms in the module docstring)."""
    scheme = url.partition("://")[0]
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        return _sentinel_client(url, tls=scheme == "rediss+sentinel")
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"state.url: unsupported scheme {scheme!r}; use redis, rediss or redis+sentinel")
    # A blocking pool makes a burst of requests queue for a connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=2.0, **connection_options())
    return aioredis.Redis(connection_pool=pool)


def _sentinel_client(url: str, *, tls: bool) -> aioredis.Redis:
    parts = urlsplit(url)
    auth, _, hosts = parts.netloc.rpartition("@")
    username, _, password = auth.partition(":") if auth else ("", "", "")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        sentinels.append((name, int(port) if port else _SENTINEL_PORT))
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or not sentinels[0][0]:
        raise ConfigError(
            "state.url: a sentinel url names its hosts and service: redis+sentinel://host:26379/mymaster/0"
        )
    options: dict[str, Any] = {**connection_options(), "db": int(path[1]) if len(path) > 1 else 0, "ssl": tls}
    if username:
        options["username"] = unquote(username)
    if password:
        options["password"] = unquote(password)
    # The sentinels themselves get the timeouts and TLS, not the data password (a sentinel rarely has one).
    watchers = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0, "ssl": tls}
    sentinel = Sentinel(sentinels, sentinel_kwargs=watchers, **options)  # type: ignore[no-untyped-call]
    return cast(aioredis.Redis, sentinel.master_for(path[0], max_connections=64))


async def close_client(client: aioredis.Redis) -> None:
    """Close ``client``, its pool, and the connections to the sentinels that named its primary."""
    await client.aclose()
    await client.connection_pool.disconnect()
    sentinel = getattr(client.connection_pool, "sentinel_manager", None)
    if isinstance(sentinel, Sentinel):
        await sentinel.aclose()
