"""One contract, run against every backend. Redis tests need ROTATOR_TEST_REDIS_URL's server (CI starts one)."""

from __future__ import annotations

import asyncio
import os

import pytest

from asgi_rotator.errors import BackendError
from asgi_rotator.state import MemoryBackend, StateBackend

REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_is_a_state_backend(backend):
    assert isinstance(backend, StateBackend)


async def test_get_set_delete_and_ttl(backend, key):
    assert await backend.get(key) is None
    await backend.set(key, b"v1")
    await backend.set(key + ":short", b"v2", ttl=0.05)
    assert await backend.get_many([key, key + ":short", key + ":none"]) == [b"v1", b"v2", None]
    await asyncio.sleep(0.1)
    assert await backend.get(key + ":short") is None
    await backend.delete(key)
    assert await backend.get(key) is None


async def test_counter_window(backend, key):
    assert await backend.incr(key, ttl=0.1) == 1
    assert await backend.incr(key, 5, ttl=0.1) == 6
    await asyncio.sleep(0.15)
    assert await backend.incr(key, ttl=0.1) == 1


async def test_counters_are_atomic_under_concurrency(backend, key):
    await asyncio.gather(*(backend.incr(key) for _ in range(200)))
    assert await backend.incr(key, 0) == 200


async def test_deadline_extends_but_never_shortens(backend, key):
    import time

    now = time.time()
    until, payload = await backend.extend_deadline(key, now + 10, b"long")
    assert payload == b"long" and abs(until - (now + 10)) < 0.1
    until, payload = await backend.extend_deadline(key, now + 2, b"short")
    assert payload == b"long" and until > now + 9
    until, payload = await backend.extend_deadline(key, now + 20, b"longer")
    assert payload == b"longer" and await backend.get(key) == b"longer"
    await backend.extend_deadline(key + ":brief", time.time() + 0.05, b"x")
    await asyncio.sleep(0.1)
    assert await backend.get(key + ":brief") is None


async def test_leases_cap_renew_release_and_expire(backend, key):
    assert await backend.acquire_lease(key, "a", 2, ttl=0.2)
    assert await backend.acquire_lease(key, "b", 2, ttl=5)
    assert not await backend.acquire_lease(key, "c", 2, ttl=5)
    assert await backend.acquire_lease(key, "a", 2, ttl=0.2)  # re-entrant for its holder
    assert await backend.count_leases([key, key + ":empty"]) == [2, 0]
    await backend.write_many([("release", key, "b", None)])
    assert await backend.count_leases([key]) == [1]
    await backend.renew_leases([(key, "a")], ttl=0.2)
    await asyncio.sleep(0.3)  # "a" was never renewed again: its replica "died"
    assert await backend.count_leases([key]) == [0]
    assert await backend.acquire_lease(key, "c", 1, ttl=5)


async def test_lease_renewal_is_one_batch_and_never_revives_an_expired_lease(backend, key):
    other = key + ":other"
    assert await backend.acquire_lease(key, "a", None, ttl=0.3)
    assert await backend.acquire_lease(other, "b", None, ttl=0.05)
    await asyncio.sleep(0.1)  # "b" expired before its renewal
    await backend.renew_leases([(key, "a"), (other, "b"), (other, "never-held")], ttl=0.6)
    await backend.renew_leases([], ttl=1)
    await asyncio.sleep(0.35)
    assert await backend.count_leases([key, other]) == [1, 0]


async def test_fair_cycle_ends_when_every_member_had_a_turn(backend, key):
    assert not await backend.mark_cycle(key, "c1", 3, ttl=10)
    assert not await backend.mark_cycle(key, "c1", 3, ttl=10)  # a second turn of the same member counts once
    assert not await backend.mark_cycle(key, "c2", 3, ttl=10)
    assert set((await backend.get_counters([key]))[0]) == {"c1", "c2"}
    assert await backend.mark_cycle(key, "c3", 3, ttl=10)  # everyone had a turn: the cycle starts over
    assert await backend.get_counters([key]) == [{}]
    assert not await backend.mark_cycle(key + ":short", "c1", 3, ttl=0.05)
    await asyncio.sleep(0.1)  # the cycle lasts its duration from its first turn
    assert await backend.get_counters([key + ":short"]) == [{}]


async def test_fair_cycle_marks_are_atomic_under_concurrency(backend, key):
    ended = await asyncio.gather(*(backend.mark_cycle(key, f"c{i % 5}", 5, ttl=10) for i in range(50)))
    assert sum(ended) >= 1 and all(isinstance(flag, bool) for flag in ended)


async def test_lease_cap_holds_under_concurrency(backend, key):
    results = await asyncio.gather(*(backend.acquire_lease(key, f"h{i}", 3, ttl=5) for i in range(50)))
    assert sum(results) == 3


async def test_bounded_lists(backend, key):
    for i in range(5):
        await backend.append(key, str(i).encode(), max_len=3, ttl=10)
    assert await backend.list(key) == [b"2", b"3", b"4"]
    assert await backend.list(key + ":none") == []


async def test_append_ttl_restarts_with_every_append(backend, key):
    await backend.append(key, b"a", max_len=10, ttl=0.2)
    await asyncio.sleep(0.12)
    await backend.append(key, b"b", max_len=10, ttl=0.2)  # the list lives on while appends keep coming
    await asyncio.sleep(0.12)
    assert await backend.list(key) == [b"a", b"b"]
    await asyncio.sleep(0.15)
    assert await backend.list(key) == []
    await backend.append(key + ":forever", b"x", max_len=2)
    assert await backend.list(key + ":forever") == [b"x"]


@pytest.mark.redis
def test_the_valkey_backend_runs_valkey(valkey):
    assert valkey.info("valkey_version").startswith("9.")  # the [valkey] params above run on this server


@pytest.mark.redis
async def test_redis_connection_errors_become_backend_errors():
    from asgi_rotator.state.redis import RedisBackend

    dead = RedisBackend.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(BackendError, match="Redis"):
        await dead.get("anything")
    await dead.aclose()


async def test_degrading_backend_serves_locally_while_the_primary_is_down(caplog):
    from asgi_rotator.state import DegradingBackend

    class Broken(MemoryBackend):
        async def get(self, key):
            raise BackendError("redis is down")

    now = [0.0]
    backend = DegradingBackend(Broken(), retry_after=5, clock=lambda: now[0])
    await backend.fallback.set("k", b"local")
    assert await backend.get("k") == b"local" and backend.degraded
    assert "serving on local state" in caplog.text
    now[0] = 6.0
    assert not backend.degraded


async def test_gateway_with_failing_redis_answers_503_quickly_when_configured_to_fail():
    import time

    import httpx

    from asgi_rotator import RotatorASGI

    app = RotatorASGI(
        {
            "providers": {
                "p": {"protocol": "openai_chat", "base_url": "http://up/v1", "credentials": ["sk-x-1234567"]}
            },
            "state": {"backend": "redis", "url": "redis://127.0.0.1:1/0", "on_error": "fail"},
        }
    )
    started = time.monotonic()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        reply = await client.post("/v1/chat/completions", json={"model": "p/m", "messages": []})
    await app.shutdown()
    assert reply.status_code == 503 and "state backend" in reply.json()["error"]["message"]
    assert time.monotonic() - started < 5


async def test_write_many_applies_every_write(backend, key):
    await backend.set(key + ":n", b"5")
    assert await backend.acquire_lease(key + ":lease", "holder-1", 2, 10)
    assert await backend.acquire_lease(key + ":lease", "holder-2", 2, 10)
    await backend.write_many(
        [
            ("set", key + ":a", b"x", None),
            ("incr", key + ":n", 2, 10),
            ("incr", key + ":new", 3, 0.05),
            ("set", key + ":t", b"y", 0.05),
            ("release", key + ":lease", "holder-1", None),
        ]
    )
    assert await backend.get_many([key + ":a", key + ":n", key + ":new", key + ":t"]) == [b"x", b"7", b"3", b"y"]
    assert await backend.count_leases([key + ":lease"]) == [1]
    await asyncio.sleep(0.1)
    assert await backend.get_many([key + ":new", key + ":t"]) == [None, None]


async def test_hash_counters_add_atomically_and_expire(backend, key):
    await asyncio.gather(*(backend.write_many([("hincr", key, {"a": 1, "b": 2}, 10)]) for _ in range(50)))
    await backend.write_many([("hincr", key + ":brief", {"a": 1}, 0.05)])
    assert await backend.get_counters([key, key + ":brief", key + ":none"]) == [{"a": 50, "b": 100}, {"a": 1}, {}]
    await asyncio.sleep(0.1)
    assert await backend.get_counters([key + ":brief"]) == [{}]


@pytest.mark.redis
async def test_redis_pipelines_survive_a_flushed_script_cache(key):
    """Pipelined scripts go by EVALSHA alone; after SCRIPT FLUSH each runs exactly once after a reload."""
    from asgi_rotator.state.redis import RedisBackend

    backend = RedisBackend.from_url(REDIS_URL)
    try:
        await backend.write_many([("hincr", key, {"n": 1}, 10), ("incr", key + ":c", 1, 10)])
        await backend._client.script_flush()
        await backend.write_many(
            [("hincr", key, {"n": 1}, 10), ("incr", key + ":c", 2, 10), ("set", key + ":s", b"v", 10)]
        )
        assert await backend.get_counters([key]) == [{"n": 2}]
        assert await backend.incr(key + ":c", 0) == 3
        assert await backend.get(key + ":s") == b"v"
    finally:
        await backend.aclose()


async def test_follow_reads_a_chain_in_one_call(backend, key):
    prefix = key + ":r:"
    await backend.write_many(
        [
            ("set", prefix + "a", b'{"next": null}', 10),
            ("set", prefix + "b%3Ax", b'{"next": "a"}', 10),  # a link with a ':' is escaped as keys.part does
            ("set", prefix + "c", b'{"next": "b:x"}', 10),
        ]
    )
    assert await backend.follow(prefix + "c", "next", prefix, 10) == [
        b'{"next": "b:x"}',
        b'{"next": "a"}',
        b'{"next": null}',
    ]
    assert len(await backend.follow(prefix + "c", "next", prefix, 2)) == 2
    assert await backend.follow(prefix + "none", "next", prefix, 10) == []


async def test_appends_ride_in_a_write_batch(backend, key):
    await backend.write_many(
        [("append", key, str(i).encode(), 10, 3) for i in range(5)] + [("incr", key + ":n", 1, 10)]
    )
    assert await backend.list(key) == [b"2", b"3", b"4"]
