"""Redis clients from ``state.url``: a server, TLS, a Sentinel-managed primary, or a Redis Cluster.

    redis://[user:password@]host:6379/0                   one server
    rediss://[user:password@]host:6380/0?ssl_cert_reqs=required   TLS (redis-py's query options apply)
    redis+sentinel://[user:password@]s1:26379,s2:26379/mymaster/0  the primary Sentinel names (rediss+sentinel: TLS)
    redis+cluster://[user:password@]n1:6379,n2:6379/      a Redis Cluster (rediss+cluster: TLS); db 0 only

Every client gets short timeouts (a dead Redis fails a request in seconds, never hangs it) and a retry of
connection errors: after a Redis restart every pooled connection is stale, and each would otherwise fail
once. Timeouts are not retried: a stalled Redis may still run the command when it wakes up.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ClusterDownError,
    ConnectionError as RedisConnectionError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError as RedisTimeoutError,
)

from ..errors import ConfigError
from ..slots import take_slot

_SENTINEL_PORT = 26379
_REDIS_PORT = 6379
#: Connections per server (or cluster node); commands beyond them wait at most _QUEUE_WAIT seconds for one.
_MAX_CONNECTIONS = 64
_QUEUE_WAIT = 2.0

#: What the backend talks to: one server's client or a cluster's.
Client = aioredis.Redis | RedisCluster


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


def client_from_url(url: str) -> Client:
    """A client for ``url`` (the forms in the module docstring)."""
    scheme = url.partition("://")[0]
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        return _sentinel_client(url, tls=scheme == "rediss+sentinel")
    if scheme in ("redis+cluster", "rediss+cluster"):
        return _cluster_client(url, tls=scheme == "rediss+cluster")
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"state.url: unsupported scheme {scheme!r}; use redis, rediss, redis+sentinel or redis+cluster"
        )
    pool = aioredis.ConnectionPool.from_url(url, max_connections=_MAX_CONNECTIONS, **connection_options())
    return _Queued(connection_pool=pool)


class _CommandQueue:
    """A burst of commands waits for a free connection (at most ``_QUEUE_WAIT`` seconds, then a connection
    error) instead of failing on a full pool. redis-py's ``BlockingConnectionPool`` queues too, but through a
    condition variable and a timer on every command: about a fifth of a Redis call's CPU at the gateway's
    rates. Here a free slot costs a semaphore's uncontended acquire."""

    def __init__(self, size: int) -> None:
        self._slots = asyncio.Semaphore(size)

    async def __aenter__(self) -> None:
        if not await take_slot(self._slots, _QUEUE_WAIT):
            raise RedisConnectionError("No connection available.")

    async def __aexit__(self, *exc_info: object) -> None:
        self._slots.release()


class _Queued(aioredis.Redis):
    """One server's client whose commands queue for a connection (:class:`_CommandQueue`) and go straight over it.

    redis-py's command path takes a pooled connection with a readiness probe of its socket, runs the command
    inside its retry helper and records its own metrics around it: about a third of a round trip's CPU on the
    gateway's hot path (two scripts per request). Here a command pops an idle connection (or opens one), sends,
    reads, and puts it back; a connection that failed in any way, or was cancelled mid-command, is closed, never
    reused. A connection error goes once more through redis-py's path, which retries with backoff, as every
    command did before (a restarted Redis leaves each idle connection stale).

    The socket timeout bounds the whole command (connecting, sending, reading) as one deadline: redis-py's
    connection bounds its write with ``asyncio.wait_for`` (a task per command on Python 3.11) and its read
    with a timer of its own, about a third of a command's CPU again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue = _CommandQueue(_MAX_CONNECTIONS)
        self._idle: list[Connection] = []
        self._timeout: float | None = self.connection_pool.connection_kwargs.get("socket_timeout")

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        async with self._queue:
            try:
                return await self._over_idle_connection(args, options)
            except RedisConnectionError:
                return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    async def _over_idle_connection(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        connection: Connection
        if self._idle:
            connection = self._idle.pop()
        else:
            connection = self.connection_pool.make_connection()  # type: ignore[no-untyped-call]
            connection.socket_timeout = None  # the command's own deadline, below, bounds it
        try:
            async with asyncio.timeout(self._timeout):
                await connection.send_packed_command(connection.pack_command(*args))
                reply = await self.parse_response(connection, args[0], **options)
        except ResponseError:
            self._idle.append(connection)  # an error reply was read whole: the connection is in step
            raise
        except TimeoutError:
            await connection.disconnect()
            raise RedisTimeoutError(f"Redis did not answer {args[0]} within {self._timeout} s.") from None
        except BaseException:
            await connection.disconnect()
            raise
        self._idle.append(connection)
        return reply

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect()
        await super().aclose(close_connection_pool)


def _hosts(netloc: str, default_port: int) -> tuple[str, list[tuple[str, int]]]:
    """The ``user:password@`` part and the ``host:port`` list of a multi-host URL."""
    auth, _, hosts = netloc.rpartition("@")
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        nodes.append((name, int(port) if port else default_port))
    return auth, nodes


def _sentinel_client(url: str, *, tls: bool) -> aioredis.Redis:
    parts = urlsplit(url)
    auth, sentinels = _hosts(parts.netloc, _SENTINEL_PORT)
    username, _, password = auth.partition(":") if auth else ("", "", "")
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
    return cast(aioredis.Redis, sentinel.master_for(path[0], max_connections=_MAX_CONNECTIONS))


class _Cluster(RedisCluster):
    """redis-py's cluster client, minus its retry of timeouts (a stalled node would run a script twice).

    Connection errors and topology changes are still retried, after re-reading the cluster's slots. The
    backend sends one command per call, so this list is what decides.
    """

    ERRORS_ALLOW_RETRY = (RedisConnectionError, ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # redis-py fails a command that finds every connection to its node busy; queue it instead, as for one
        # server (every gateway key lives on one node, so one bound serves them all).
        self._queue = _CommandQueue(kwargs["max_connections"])

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """One command, once the cluster's slots are known: redis-py sends a command issued before that to a
        random node, and a burst of them draws MOVED replies, a reconnect and retries of commands that ran."""
        async with self._queue:
            await self.initialize()
            return await super().execute_command(*args, **kwargs)


def _cluster_client(url: str, *, tls: bool) -> RedisCluster:
    parts = urlsplit(url)
    auth, nodes = _hosts(parts.netloc, _REDIS_PORT)
    if not nodes[0][0] or parts.path.strip("/") not in ("", "0"):
        raise ConfigError("state.url: a cluster url names its nodes and no database: redis+cluster://n1:6379,n2:6379/")
    # redis-py parses credentials and TLS query options from a one-node URL; the other nodes join as startup nodes.
    first = f"{auth}@{nodes[0][0]}:{nodes[0][1]}" if auth else f"{nodes[0][0]}:{nodes[0][1]}"
    single = urlunsplit(("rediss" if tls else "redis", first, "", parts.query, ""))
    others = [ClusterNode(host, port) for host, port in nodes[1:]]
    return _Cluster.from_url(single, startup_nodes=others, max_connections=_MAX_CONNECTIONS, **connection_options())


async def close_client(client: Client) -> None:
    """Close ``client``, its pools, and the connections to the sentinels that named its primary."""
    await client.aclose()
    if isinstance(client, RedisCluster):
        return
    await client.connection_pool.disconnect()
    sentinel = getattr(client.connection_pool, "sentinel_manager", None)
    if isinstance(sentinel, Sentinel):
        await sentinel.aclose()
