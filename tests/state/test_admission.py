"""The admission contract on every backend: decide and count in one atomic step (Lua mirrors Python)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import pytest

from asgi_rotator.state.admission import Admission, Contender, Reservation, Window


def contender(key: str, name: str, *, limit: int | None = None, rpm: int | None = None, tier: int = 1) -> Contender:
    window = Window(f"{key}:{name}:r:1", rpm, 1, 150.0, previous=f"{key}:{name}:r:0", ranks=True)
    return Contender(name, f"{key}:{name}:lease", limit, (f"{key}:{name}:cool",), f"{key}:{name}:used", tier, (window,))


def admission(*contenders: Contender, **options) -> Admission:
    options.setdefault("tiebreak", tuple(0.5 for _ in contenders))
    options.setdefault("carry", 0.5)
    options.setdefault("minute_left", 30.0)
    return Admission(tuple(contenders), secrets.token_hex(4), 60.0, 1000.0, **options)


async def test_a_burst_lands_exactly_on_an_rpm_cap(backend, key):
    only = contender(key, "a", rpm=10)
    decisions = await asyncio.gather(*(backend.admit(admission(only)) for _ in range(30)))
    assert sum(d.outcome == "admitted" for d in decisions) == 10
    refused = next(d for d in decisions if d.outcome != "admitted")
    assert refused.outcome == "unavailable" and refused.retry_after == 30.0 and not refused.busy


async def test_the_previous_minute_share_is_not_rounded_down(backend, key):
    window = Window(f"{key}:now", 10, 1, 150.0, previous=f"{key}:before", ranks=True)
    only = dataclasses.replace(contender(key, "a"), windows=(window,))
    await backend.incr(f"{key}:before", 10, ttl=150)  # 10 requests at :50 of the previous minute
    at_01 = admission(only, carry=59 / 60, minute_left=59.0)
    assert (await backend.admit(at_01)).outcome == "unavailable"  # 9.83 + 1 > 10 at :01
    assert (await backend.admit(admission(only, carry=0.85))).outcome == "admitted"  # 8.5 + 1 <= 10 at :09


async def test_a_check_only_window_has_room_below_its_limit(backend, key):
    tokens = Window(f"{key}:t", 100, 0, 150.0)
    only = dataclasses.replace(contender(key, "a"), windows=(tokens,))
    await backend.incr(f"{key}:t", 99, ttl=150)
    assert (await backend.admit(admission(only))).outcome == "admitted"
    await backend.incr(f"{key}:t", 1, ttl=150)
    decision = await backend.admit(admission(only, minute_left=20.0))
    assert decision.outcome == "unavailable" and decision.retry_after == 20.0
    assert await backend.incr(f"{key}:t", 0) == 100  # checked, never counted


async def test_concurrency_caps_and_least_loaded_first(backend, key):
    a, b = contender(key, "a", limit=1), contender(key, "b", limit=1)
    first = await backend.admit(admission(a, b, tiebreak=(0.1, 0.9)))
    second = await backend.admit(admission(a, b, tiebreak=(0.1, 0.9)))
    third = await backend.admit(admission(a, b))
    assert (first.index, second.index) == (0, 1)  # the loaded one goes last
    assert third.outcome == "unavailable" and third.busy and third.retry_after is None
    assert await backend.count_leases([a.lease_key, b.lease_key]) == [1, 1]


async def test_priority_tiers_and_sequential_cursor(backend, key):
    low, high = contender(key, "low", tier=2), contender(key, "high", tier=1)
    assert (await backend.admit(admission(low, high, strategy="priority"))).index == 1
    cursor = f"{key}:cursor"
    seq = admission(low, high, strategy="sequential", cursor_key=cursor, cursor_ttl=60.0)
    assert (await backend.admit(seq)).index == 1
    assert await backend.get(cursor) == b"high"
    await backend.set(cursor, b"low")
    assert (await backend.admit(seq)).index == 0  # the active credential stays first while it is ready


async def test_cooling_credentials_and_resting_targets(backend, key):
    a, b = contender(key, "a"), contender(key, "b")
    await backend.extend_deadline(a.cooldown_keys[0], 10**10, b"{}")
    assert (await backend.admit(admission(a, b))).index == 1
    rest = f"{key}:model-cooldown"
    await backend.set(rest, b"{}", ttl=5)
    decision = await backend.admit(admission(a, b, target_cooldowns=(f"{key}:none", rest)))
    assert decision.outcome == "resting" and decision.rest == 1 and 0 < (decision.retry_after or 0) <= 5


async def test_fair_cycle_turns_go_last(backend, key):
    a, b = contender(key, "a"), contender(key, "b")
    cycle = f"{key}:cycle"
    await backend.mark_cycle(cycle, "a", 3, 60)
    assert (await backend.admit(admission(a, b, strategy="sequential", cycle_key=cycle))).index == 1


async def test_a_session_waits_for_its_busy_credential(backend, key):
    a, b = contender(key, "a", limit=1), contender(key, "b", limit=1)
    sticky = f"{key}:affinity"
    await backend.set(sticky, b"a")
    assert (await backend.admit(admission(a, b, affinity_key=sticky))).index == 0
    assert (await backend.admit(admission(a, b, affinity_key=sticky, wait_for_sticky=True))).outcome == "wait"
    assert (await backend.admit(admission(a, b, affinity_key=sticky))).index == 1


async def test_a_budget_is_reserved_with_the_lease(backend, key):
    only = contender(key, "a")
    budget = Reservation(f"{key}:budget", (("requests", 3, 1), ("tokens", 50, 0)), 100.0, 90.0)
    decisions = await asyncio.gather(*(backend.admit(admission(only, reservation=budget)) for _ in range(10)))
    assert sum(d.outcome == "admitted" for d in decisions) == 3
    refused = next(d for d in decisions if d.outcome != "admitted")
    assert (refused.outcome, refused.exceeded, refused.retry_after) == ("over_budget", "requests", 90.0)
    assert await backend.get_counters([budget.key]) == [{"requests": 3}]
    await backend.write_many([("hincr", budget.key, {"requests": -1, "tokens": 50}, None)])
    assert (await backend.admit(admission(only, reservation=budget))).exceeded == "tokens"


@pytest.mark.parametrize("strategy", ["balanced", "priority"])
async def test_admission_counts_what_it_admits(backend, key, strategy):
    a = dataclasses.replace(contender(key, "a"), counters=((f"{key}:display", 90.0),))
    decision = await backend.admit(admission(a, strategy=strategy))
    assert decision.outcome == "admitted"
    assert await backend.get_many([a.windows[0].key, f"{key}:display", a.last_used_key]) == [b"1", b"1", b"1000.0"]


async def test_the_admission_that_uses_a_window_up_says_so(backend, key):
    only = contender(key, "a", rpm=3)
    filled = [(await backend.admit(admission(only))).filled for _ in range(3)]
    assert filled == [None, None, 30.0]


async def test_conversation_evidence_names_the_session_and_its_credential(backend, key):
    a, b = contender(key, "a"), contender(key, "b")
    await backend.set(f"{key}:anchor-old", b"s:earlier")
    await backend.set(f"{key}:aff:s%3Aearlier", b"b")  # the prefix plus the escaped session
    anchors = (f"{key}:anchor-new", f"{key}:anchor-old")
    found = await backend.admit(admission(a, b, anchor_keys=anchors, affinity_prefix=f"{key}:aff:"))
    assert (found.index, found.session) == (1, "s:earlier")
    fresh = await backend.admit(admission(a, b, anchor_keys=(f"{key}:anchor-new",), affinity_prefix=f"{key}:aff:"))
    assert fresh.session is None
