"""One server's client queues a burst of commands for its connections instead of failing, and gives up after a
bounded wait (the gateway's own queue replaced redis-py's blocking pool, which cost a condition and a timer on
every command)."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from asgi_rotator.state import redis_connect
from asgi_rotator.state.redis_connect import client_from_url, close_client

from .conftest import REDIS_URL

pytestmark = pytest.mark.redis


async def test_a_burst_beyond_the_pool_waits_for_connections(monkeypatch):
    monkeypatch.setattr(redis_connect, "_MAX_CONNECTIONS", 2)
    client = client_from_url(REDIS_URL)
    try:
        await client.set("rotator-test:pool", b"v")
        # Forty commands at once on two connections: each waits its turn, none fails with "too many connections".
        replies = await asyncio.gather(*(client.get("rotator-test:pool") for _ in range(40)))
        assert replies == [b"v"] * 40
    finally:
        await client.delete("rotator-test:pool")
        await close_client(client)


async def test_a_command_that_finds_no_connection_in_time_fails_as_a_connection_error(monkeypatch):
    monkeypatch.setattr(redis_connect, "_MAX_CONNECTIONS", 1)
    monkeypatch.setattr(redis_connect, "_QUEUE_WAIT", 0.2)
    client = client_from_url(REDIS_URL)
    try:
        # The one connection is held by a command the server keeps for a second (BLPOP on an empty list).
        held = asyncio.ensure_future(client.blpop(["rotator-test:empty"], timeout=1))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("rotator-test:pool")
        assert await held is None
    finally:
        await close_client(client)


async def test_a_command_cancelled_midway_never_leaves_its_reply_for_the_next():
    client = client_from_url(REDIS_URL)
    try:
        await client.set("rotator-test:pool", b"v")
        waiting = asyncio.ensure_future(client.blpop(["rotator-test:empty"], timeout=1))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await client.rpush("rotator-test:empty", b"late")  # what the cancelled BLPOP would have answered
        assert await client.get("rotator-test:pool") == b"v"
        assert await client.lpop("rotator-test:empty") == b"late"
    finally:
        await client.delete("rotator-test:pool", "rotator-test:empty")
        await close_client(client)


async def test_a_connection_the_server_closed_is_replaced_without_failing_the_command():
    client = client_from_url(REDIS_URL)
    killer = client_from_url(REDIS_URL)
    try:
        await client.set("rotator-test:pool", b"v")
        idle = await client.client_id()
        await killer.client_kill_filter(_id=idle)
        assert await client.get("rotator-test:pool") == b"v"
        assert await client.client_id() != idle
    finally:
        await client.delete("rotator-test:pool")
        await close_client(client)
        await close_client(killer)
