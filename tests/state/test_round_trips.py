"""Redis on the request path: one round trip to admit a request, one to finish it (DESIGN.md section 6).

Counted where Redis sees them, on a private redis-server: MONITOR lists every command any connection of the
gateway sends, and INFO's ``total_reads_processed`` counts the reads Redis made from its sockets, one per
round trip. Three kinds of command are amortized over many requests and counted apart: the background flush
of recent-request summaries (``reqs:`` keys, once a second), the read of an owner's stored-response bytes
(``respbytes:`` keys, at most once every 2 seconds per owner) and the poll of the runtime configuration's
version (``config:version``, every ``state.runtime_poll_interval``, 2 seconds).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import openai
import pytest
import redis

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream

from ..conftest import PROXY_KEY
from ..redis_servers import Server

pytestmark = pytest.mark.redis
MESSAGES = [{"role": "user", "content": "hi"}]
N = 12


@dataclass
class Traffic:
    """What Redis saw during a window: client commands by name (the request path's and the amortized ones
    apart), commands scripts ran, socket reads (round trips), and how long the window lasted."""

    path: Counter[str]
    amortized: Counter[str]
    in_scripts: Counter[str]
    round_trips: int
    seconds: float


class Monitor:
    """MONITOR on a private server, plus INFO's read counter, over a window of requests."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._seen: list[dict[str, Any]] = []
        self._client = redis.Redis(port=server.port)
        self._client.ping()  # its connection's handshake stays out of every window

    def _reads(self) -> int:
        return int(self._client.info("stats")["total_reads_processed"])

    def _listen(self, ready: threading.Event) -> None:
        with redis.Redis(port=self.server.port).monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if command["command"] == "ECHO monitor-stop":
                    return
                self._seen.append(command)

    async def window(self, requests: Callable[[], Awaitable[None]]) -> Traffic:
        """The traffic of ``requests()`` and of the background flush that follows it."""
        ready = threading.Event()
        listener = threading.Thread(target=self._listen, args=(ready,), daemon=True)
        listener.start()
        ready.wait(5)
        self._seen.clear()
        before, started = self._reads(), time.monotonic()
        await requests()
        await asyncio.sleep(1.5)  # the summaries' background flush runs about once a second
        reads = self._reads() - before - 1  # the second INFO is a read too
        seconds = time.monotonic() - started
        self._client.echo("monitor-stop")
        listener.join(5)
        path: Counter[str] = Counter()
        amortized: Counter[str] = Counter()
        in_scripts: Counter[str] = Counter()
        for command in self._seen:
            name = command["command"].split(" ", 1)[0].upper()
            if command.get("client_type") == "lua":
                in_scripts[name] += 1
            elif name != "INFO":
                text = command["command"]
                flushed = ":reqs:" in text or ":usage:" in text  # the summaries' and the usage counters' batches
                spread = (name, flushed, ":respbytes:" in text, ":config:version" in text) in {
                    ("EVALSHA", True, False, False),
                    ("MGET", False, True, False),
                    ("GET", False, False, True),
                }
                # A connection opened when the two background batches and a request overlap (the pool grows
                # once; its greeting is no request's command).
                spread = spread or name in ("HELLO", "CLIENT", "SELECT")
                (amortized if spread else path)[name] += 1
        return Traffic(path, amortized, in_scripts, reads, seconds)


@pytest.fixture
def monitor(private_redis_server: Server) -> Iterator[Monitor]:
    watcher = Monitor(private_redis_server)
    yield watcher
    watcher._client.close()


@pytest.fixture
async def gateway(private_redis_server: Server) -> AsyncIterator[RotatorASGI]:
    provider = {
        "protocol": "openai_chat",
        "base_url": "http://upstream/v1",
        "credentials": [{"key": "sk-trips-1111", "rpm": 1000, "daily": 10000}, "sk-trips-2222"],
    }
    config = {
        "providers": {"up": provider},
        "auth": {"api_keys": [{"key": PROXY_KEY, "budget": {"requests": 1000}}]},
        "state": {"backend": "redis", "url": private_redis_server.url, "prefix": f"trips-{uuid.uuid4().hex[:8]}:"},
    }
    app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=FakeUpstream()))
    yield app
    await app.shutdown()


def sdk(app: RotatorASGI) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=client, max_retries=0)


def report(label: str, traffic: Traffic) -> None:
    print(  # pytest -s shows what Redis saw; docs/scaling.md quotes it
        f"\n{label}: per request {sum(traffic.path.values()) / N:.2f} commands ({dict(traffic.path)}), "
        f"{sum(traffic.in_scripts.values()) / N:.1f} run by scripts ({dict(traffic.in_scripts.most_common(6))}); "
        f"amortized over {N} requests in {traffic.seconds:.1f} s: {dict(traffic.amortized)}; "
        f"round trips seen by Redis: {traffic.round_trips}"
    )


def assert_round_trips(traffic: Traffic, per_request: int) -> None:
    """Every request command is one script call; the two flushes (request summaries, usage counters) add one
    command per second each, the stored-bytes read and the runtime configuration's poll one per 2 seconds each,
    not per request; and Redis read its sockets exactly once per command (no round trip hides inside or beside
    them)."""
    assert traffic.path == Counter({"EVALSHA": per_request * N})
    assert set(traffic.amortized) <= {"EVALSHA", "MGET", "GET", "HELLO", "CLIENT", "SELECT"}
    assert traffic.amortized["HELLO"] <= 2
    assert 2 <= traffic.amortized["EVALSHA"] <= 2 * (traffic.seconds + 2)
    assert traffic.amortized["MGET"] <= traffic.seconds / 2 + 1
    assert traffic.amortized["GET"] <= traffic.seconds / 2 + 1
    commands = per_request * N + sum(traffic.amortized.values())
    greeting = sum(traffic.amortized[name] for name in ("HELLO", "CLIENT", "SELECT"))
    # A new connection's greeting may reach Redis in one read, or in more than MONITOR shows: redis-py follows
    # HELLO with two CLIENT SETINFO, which a server before 7.2 rejects unlisted (up to 3 reads per greeting,
    # seen in a full suite run). Every other command is a read of its own.
    unseen = 3 * traffic.amortized["HELLO"]
    assert commands - greeting <= traffic.round_trips <= commands + unseen


async def test_a_request_costs_two_round_trips_streamed_or_not(gateway, monitor):
    async with sdk(gateway) as client:
        await client.chat.completions.create(model="up/m", messages=MESSAGES)  # connects, loads the scripts

        async def plain() -> None:
            for _ in range(N):
                await client.chat.completions.create(model="up/m", messages=MESSAGES)

        async def streamed() -> None:
            for _ in range(N):
                async for _chunk in await client.chat.completions.create(model="up/m", messages=MESSAGES, stream=True):
                    pass

        for label, requests in (("JSON", plain), ("stream", streamed)):
            traffic = await monitor.window(requests)
            report(label, traffic)
            assert_round_trips(traffic, 2)
            # The usage counters (some twenty field increments a request) are summed and written once a
            # second: what is left per request is the budget and the credential's windows.
            assert traffic.in_scripts["HINCRBY"] < 8 * N, traffic.in_scripts


async def test_a_responses_lineage_of_any_depth_costs_one_more(gateway, monitor):
    async with sdk(gateway) as client:
        previous = await client.responses.create(model="up/m", input="turn 0")

        async def chain() -> None:
            nonlocal previous
            for turn in range(1, N + 1):
                previous = await client.responses.create(
                    model="up/m", input=f"turn {turn}", previous_response_id=previous.id
                )

        traffic = await monitor.window(chain)
        report("Responses chain", traffic)
        assert_round_trips(traffic, 3)  # lineage, admit, finish: the lineage is one script however deep


async def test_a_conversation_continued_without_a_session_id_costs_two(gateway, monitor):
    async with sdk(gateway) as client:
        first = await client.chat.completions.create(model="up/m", messages=MESSAGES)
        answer = {"role": "assistant", "content": first.choices[0].message.content}
        history = [*MESSAGES, answer, {"role": "user", "content": "and then?"}]

        async def continued() -> None:
            # The evidence that names the conversation's session is looked up by the admission itself.
            for _ in range(N):
                await client.chat.completions.create(model="up/m", messages=history)

        assert_round_trips(await monitor.window(continued), 2)
