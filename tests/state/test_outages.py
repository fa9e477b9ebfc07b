"""Redis outages in each ``state.on_error`` mode, on a private redis-server this test starts and stops.

Counts of what was served, refused and kept are the proof: a degraded replica leaks no Redis lease and loses
none of what it did locally; a failing one never turns a served answer into an error.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from asgi_rotator.testing import Reply

from ..conftest import PROXY_KEY

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to start a private one"),
]
MESSAGES = [{"role": "user", "content": "hi"}]


class PrivateRedis:
    """A redis-server of the test's own (append-only file on, so a restart keeps the data)."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--enable-debug-command", "yes"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()  # SIGTERM: redis-server flushes its append-only file and exits
        self.process.wait(10)

    def stall(self, seconds: float) -> subprocess.Popen[bytes]:
        """``DEBUG SLEEP``: the server stops answering for ``seconds`` (and then runs what queued up)."""
        return subprocess.Popen(["redis-cli", "-p", str(self.port), "DEBUG", "SLEEP", str(seconds)])

    def cli(self, *command: str) -> str:
        done = subprocess.run(["redis-cli", "-p", str(self.port), *command], capture_output=True, text=True)
        return done.stdout.strip()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture
async def connect(gateway: Any) -> AsyncIterator[Any]:
    clients: list[openai.AsyncOpenAI] = []

    def make(url: str, on_error: str) -> openai.AsyncOpenAI:
        config = {
            "providers": {
                "p": {
                    "protocol": "openai_chat",
                    "base_url": "{fake}/v1",
                    "credentials": [{"key": "sk-outage-1111", "max_concurrency": 2}],
                }
            },
            "routing": {"max_wait": 0},
            "state": {"backend": "redis", "url": url, "on_error": on_error, "retry_after": 0.5, "lease_ttl": 60},
        }
        client = openai.AsyncOpenAI(base_url=gateway(config) + "/v1", api_key=PROXY_KEY, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def ask(client: openai.AsyncOpenAI) -> str:
    try:
        await client.chat.completions.create(model="p/m", messages=MESSAGES)
    except openai.APIStatusError as exc:
        return str(exc.status_code)
    return "served"


async def usage(client: openai.AsyncOpenAI) -> dict[str, Any]:
    url = str(client.base_url).removesuffix("v1/") + "rotator/usage"
    async with httpx.AsyncClient() as http:
        reply = await http.get(url, headers={"x-api-key": PROXY_KEY})
    return dict(reply.json())


async def test_degraded_mode_leaks_no_lease_and_loses_nothing(private_redis, connect, fake, caplog):
    client = connect(private_redis.url, "degrade")
    assert [await ask(client) for _ in range(3)] == ["served"] * 3
    fake.default = Reply(delay=1.0)
    slow = asyncio.ensure_future(ask(client))  # holds one of the key's two Redis slots across the outage
    await asyncio.sleep(0.3)
    private_redis.stop()
    assert await slow == "served"  # its release is owed to Redis
    fake.default = Reply()
    during = [await ask(client) for _ in range(5)]
    stored = await client.responses.create(model="p/m", input="remember 'lantern'")
    private_redis.start()
    await asyncio.sleep(0.6)  # the next call finds Redis back and replays what it did meanwhile

    assert during == ["served"] * 5
    assert (await client.responses.retrieve(stored.id)).output_text == stored.output_text
    report = await usage(client)
    assert report["totals"]["requests"] == 10 and report["by_model"]["p/m"]["requests"] == 10
    fake.default = Reply(delay=0.3)
    assert await asyncio.gather(ask(client), ask(client)) == ["served", "served"]  # both slots are free
    assert fake.peak_in_flight == 2
    assert caplog.text.count("serving on local state") == 1 and caplog.text.count("state backend back after") == 1


async def test_a_stall_in_degraded_mode_serves_everything_and_leaks_no_lease(private_redis, connect, fake):
    client = connect(private_redis.url, "degrade")
    assert await ask(client) == "served"
    sleeper = private_redis.stall(2.5)
    await asyncio.sleep(0.2)
    during = await asyncio.gather(*(ask(client) for _ in range(2)))
    sleeper.wait(10)
    await asyncio.sleep(0.6)
    fake.default = Reply(delay=0.3)
    after = await asyncio.gather(ask(client), ask(client))
    assert during == ["served", "served"] and after == ["served", "served"]
    assert fake.peak_in_flight == 2  # the admissions that timed out gave their possible leases back


async def test_fail_mode_refuses_new_requests_but_never_fails_a_served_one(private_redis, connect, fake, caplog):
    client = connect(private_redis.url, "fail")
    assert await ask(client) == "served"
    fake.default = Reply(text="a long answer", chunk_delay=0.2)
    stream = await client.chat.completions.create(model="p/m", messages=MESSAGES, stream=True)
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        if len(chunks) == 1:
            private_redis.stop()  # the finish batch of this stream will fail
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    fake.default = Reply()
    refused = [await ask(client) for _ in range(3)]
    private_redis.start()
    after = [await ask(client) for _ in range(3)]  # stale pooled connections are retried, not surfaced
    assert refused == ["503"] * 3 and after == ["served"] * 3
    assert caplog.text.count("Redis state backend failed (") == 1
    assert caplog.text.count("Redis state backend answers again") == 1
    assert "state was not written" in caplog.text


async def test_a_stall_in_fail_mode_refuses_then_leaks_no_lease(private_redis, connect, fake):
    client = connect(private_redis.url, "fail")
    assert await ask(client) == "served"
    sleeper = private_redis.stall(2.5)
    await asyncio.sleep(0.2)
    during = await asyncio.gather(*(ask(client) for _ in range(2)))
    sleeper.wait(10)
    assert await ask(client) == "served"  # Redis answers again; the owed lease releases go out next
    fake.default = Reply(delay=0.3)
    after = await asyncio.gather(ask(client), ask(client))
    assert during == ["503", "503"] and after == ["served", "served"]
    assert fake.peak_in_flight == 2  # the admissions that timed out ran after the stall; their leases were given back
