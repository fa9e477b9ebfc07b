"""The memory backend stays bounded: expired entries go without a scan of the store, and past ``max_keys``
the least recently used go first, never a window or cooldown that admissions keep reading."""

from __future__ import annotations

import random
import tracemalloc

import httpx
import httpx2
import openai
import orjson

from asgi_rotator import RotatorASGI, _json
from asgi_rotator.state import MemoryBackend, backend_from_config
from asgi_rotator.state.expiries import Expiries
from asgi_rotator.testing import FakeUpstream

from ..clock import FakeClock
from ..conftest import PROXY_KEY


def _size(backend: MemoryBackend) -> int:
    return len(backend._values) + len(backend._hashes) + len(backend._lists)


async def test_expired_entries_are_dropped_by_later_writes():
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    for i in range(1000):
        await backend.set(f"conversation:{i}", b"x" * 100, ttl=60)
        await backend.write_many([("hincr", f"usage:{i}", {"requests": 1}, 60)])
        await backend.append(f"history:{i}", b"entry", 10, ttl=60)
    assert _size(backend) == 3000
    clock.advance(61)
    await backend.set("after", b"1", ttl=60)
    assert _size(backend) == 1
    assert len(backend._expiries) == 1


async def test_past_max_keys_the_least_recently_used_go_first():
    backend = MemoryBackend(max_keys=100)
    await backend.incr("window:minute", 1, ttl=120)
    await backend.set("cooldown:key", b"{}", ttl=3600)
    for i in range(5000):
        await backend.set(f"response:{i}", b"stored", ttl=86400)
        if i % 50 == 0:  # what every admission reads stays recent
            assert await backend.get("window:minute") is not None
            assert await backend.get("cooldown:key") is not None
    assert _size(backend) == 100
    assert await backend.get("response:4999") == b"stored"
    assert await backend.get("response:0") is None
    assert await backend.incr("window:minute", 1, ttl=120) == 2


async def test_a_key_rewritten_on_every_request_keeps_one_expiry_row():
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    for i in range(1000):
        clock.advance(0.01)
        await backend.set("last_used", str(i).encode(), ttl=60)
    assert len(backend._expiries) == 1
    clock.advance(55)  # past the first write's expiry, not the last's
    await backend.set("other", b"1", ttl=60)
    assert await backend.get("last_used") == b"999"
    clock.advance(10)
    await backend.set("other", b"2", ttl=60)
    assert "last_used" not in backend._values


async def test_under_steady_eviction_the_expiry_schedule_follows_the_store():
    # Every new conversation evicts an old one before its (day-long) expiry; their rows must not pile up.
    backend = MemoryBackend(max_keys=1000)
    largest = 0
    for i in range(20_000):
        await backend.set(f"conversation:{i}", b"turn", ttl=86400)
        largest = max(largest, len(backend._expiries))
    assert _size(backend) == 1000
    assert largest < 1300


def test_the_expiry_schedule_stays_a_heap_while_gone_entries_are_pruned():
    rng = random.Random(7)
    table: dict[str, tuple[bytes, float | None]] = {}
    expiries = Expiries([table])
    for step in range(5000):
        key = f"k{rng.randrange(600)}"
        if rng.random() < 0.3:
            if table.pop(key, None) is not None:  # evicted or deleted: its row is left behind
                expiries.gone()
        else:
            expires = step + rng.uniform(1, 500)
            table[key] = (b"v", expires)
            expiries.track(expires, key, 0)
        expiries.expire(step)
        heap = expiries._heap
        assert all(heap[(i - 1) // 2] <= heap[i] for i in range(1, len(heap)))
        assert all(value[1] is not None and value[1] > step for value in table.values())
    earliest: dict[str, float] = {}
    for when, key, _ in expiries._heap:
        earliest[key] = min(when, earliest.get(key, when))
    assert all(earliest[key] <= value[1] for key, value in table.items() if value[1] is not None)


async def test_stored_values_take_their_size_not_the_serializers_buffer():
    # orjson returns a 1 KiB document in an allocation of 8 KiB or more; a store that held 100,000 of them
    # as they came would take about a gigabyte where their bytes are a tenth of it.
    backend = MemoryBackend()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(300):
            document = orjson.dumps({"id": f"resp_{i}", "text": "x" * 1000})
            await backend.set(f"response:{i}", document, ttl=60)
            await backend.append("recent", document, 1000)
        del document
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 2 * 300 * 1500  # two right-sized copies of each, plus the tables' own entries


def test_the_config_sets_the_bound():
    app = RotatorASGI({"providers": {}, "state": {"memory_max_keys": 123}})
    backend = backend_from_config(app.config.state)
    assert isinstance(backend, MemoryBackend)
    assert backend._max_keys == 123


async def test_stored_responses_through_the_sdk_stay_within_the_bound_at_their_size():
    # What the memory soak does, as a client does it: many stored Responses turns, each its own conversation.
    backend = MemoryBackend(max_keys=200)
    app = RotatorASGI(
        {
            "providers": {"up": {"protocol": "openai_chat", "base_url": "http://up.test/v1", "credentials": ["sk-a"]}},
            "auth": {"api_keys": [PROXY_KEY]},
        },
        backend=backend,
        upstream_transport=httpx.ASGITransport(app=FakeUpstream()),
    )
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    tracemalloc.start(3)  # enough for a failure to name who serialized what is kept
    try:
        async with openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0
        ) as sdk:
            ids = []
            for i in range(300):
                answer = await sdk.responses.create(model=f"up/model-{i}", input=f"Conversation {i}", store=True)
                ids.append(answer.id)
            newest = await sdk.responses.retrieve(ids[-1])  # the newest conversations are the ones kept
            assert newest.output_text == "Hello from the fake upstream."
        # Nothing the store keeps is a serializer's buffer (orjson's take 4 KiB and up, whatever the document's
        # size): each kept value was allocated as the backend's own right-sized copy. Asked of each kept object,
        # not of a snapshot: the suite's loopback servers run in other threads, whose allocations would count.
        kept = [value for value, _ in backend._values.values()]
        kept += [item for items, _ in backend._lists.values() for item in items]
        born = [tracemalloc.get_object_traceback(value) for value in kept]
        assert sum(trace is not None for trace in born) > 20
        assert not [trace.format() for trace in born if trace is not None and trace[-1].filename == _json.__file__]
    finally:
        tracemalloc.stop()
    assert _size(backend) <= 200, _size(backend)
    assert len(backend._expiries) < 1.3 * 200, len(backend._expiries)
    assert sum(":resp:" in key for key in backend._values) > 20, sorted(backend._values)[:20]
