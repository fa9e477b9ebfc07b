"""The usage ledger: exact counts per dimension, windows, unknown cost, scopes, and replicas sharing a backend."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from asgi_rotator.protocols.unified import Usage
from asgi_rotator.state import StateBackend
from asgi_rotator.state.keys import Keyspace
from asgi_rotator.usage import UsageLedger

from ..clock import FakeClock

ZERO = {
    "requests": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
    "cost_usd": 0.0,
}


def entry(**values: Any) -> dict[str, Any]:
    return {**ZERO, **values}


async def record(
    ledger: UsageLedger, provider: str, model: str, usage: Usage, cost: float | None, **extra: Any
) -> None:
    ledger.record(
        provider=provider,
        model=model,
        credential=extra.get("credential"),
        client_key=extra.get("client_key"),
        scope=extra.get("scope"),
        usage=usage,
        cost_usd=cost,
        cost_source="unknown" if cost is None else "config",
    )
    await ledger.pending.flush()


async def three_calls(ledger: UsageLedger, **extra: Any) -> None:
    await record(
        ledger,
        "openai",
        "gpt-4.1",
        Usage(input_tokens=100, output_tokens=50, cache_read_tokens=20, reasoning_tokens=10),
        0.001,
        credential="...abcd",
        client_key="ck-1",
        **extra,
    )
    await record(
        ledger, "openai", "gpt-4.1", Usage(input_tokens=10, output_tokens=5), 0.0005, credential="...abcd", **extra
    )
    await record(
        ledger,
        "anthropic",
        "claude-sonnet-4-5",
        Usage(input_tokens=7, output_tokens=3, cache_write_tokens=4),
        None,
        **extra,
    )


async def test_empty_report_has_the_shape(ledger: UsageLedger) -> None:
    assert await ledger.report() == {
        "totals": ZERO,
        "by_provider": {},
        "by_model": {},
        "by_credential": {},
        "by_client_key": {},
    }


async def test_exact_counts_and_unknown_cost_is_null(ledger: UsageLedger) -> None:
    await three_calls(ledger)
    openai = entry(
        requests=2, input_tokens=110, output_tokens=55, cache_read_tokens=20, reasoning_tokens=10, cost_usd=0.0015
    )
    anthropic = entry(requests=1, input_tokens=7, output_tokens=3, cache_write_tokens=4, cost_usd=None)
    first = entry(requests=1, input_tokens=100, output_tokens=50, cache_read_tokens=20, reasoning_tokens=10)
    first["cost_usd"] = 0.001
    assert await ledger.report() == {
        "totals": entry(
            requests=3,
            input_tokens=117,
            output_tokens=58,
            cache_read_tokens=20,
            cache_write_tokens=4,
            reasoning_tokens=10,
            cost_usd=None,
        ),
        "by_provider": {"anthropic": anthropic, "openai": openai},
        "by_model": {"anthropic/claude-sonnet-4-5": anthropic, "openai/gpt-4.1": openai},
        "by_credential": {"...abcd": openai},
        "by_client_key": {"ck-1": first},
    }


async def test_sub_micro_dollar_costs_add_up(ledger: UsageLedger) -> None:
    for _ in range(1000):
        await record(ledger, "openai", "gpt-4.1-nano", Usage(input_tokens=3), 3e-07)
    report = await ledger.report()
    assert report["totals"]["cost_usd"] == pytest.approx(3e-04, abs=1e-12)


async def test_windows(ledger: UsageLedger, clock: FakeClock) -> None:
    await record(ledger, "openai", "gpt-4.1", Usage(input_tokens=1, output_tokens=1), 0.25)
    clock.advance(61)  # next minute, same hour and day
    await record(ledger, "openai", "gpt-4.1", Usage(input_tokens=2, output_tokens=2), 0.5)

    minute = await ledger.report(window="minute")
    assert minute["totals"] == entry(requests=1, input_tokens=2, output_tokens=2, cost_usd=0.5)
    assert minute["by_model"] == {"openai/gpt-4.1": minute["totals"]}
    both = entry(requests=2, input_tokens=3, output_tokens=3, cost_usd=0.75)
    for window in ("hour", "day", "total"):
        assert (await ledger.report(window=window))["by_provider"] == {"openai": both}, window

    clock.advance(3600)  # next hour, same day
    assert await ledger.report(window="minute") == await ledger.report(window="hour")
    hour = await ledger.report(window="hour")
    assert hour["totals"] == ZERO
    assert hour["by_provider"] == {} and hour["by_model"] == {}
    assert (await ledger.report(window="day"))["totals"] == both

    clock.advance(86400)
    assert (await ledger.report(window="day"))["totals"] == ZERO
    assert (await ledger.report())["totals"] == both


async def test_unknown_window_is_an_error(ledger: UsageLedger) -> None:
    with pytest.raises(ValueError, match="window"):
        await ledger.report(window="week")


async def test_scopes_are_isolated(ledger: UsageLedger) -> None:
    await three_calls(ledger, scope="team-a")
    await record(ledger, "openai", "gpt-4.1", Usage(input_tokens=1000, output_tokens=1), 0.002, scope=None)

    team = await ledger.report(scope="team-a")
    assert team["totals"]["requests"] == 3
    assert team["by_client_key"] == {"ck-1": team["by_client_key"]["ck-1"]}
    assert set(team["by_model"]) == {"openai/gpt-4.1", "anthropic/claude-sonnet-4-5"}

    glob = await ledger.report()
    assert glob["totals"] == entry(requests=1, input_tokens=1000, output_tokens=1, cost_usd=0.002)
    assert glob["by_client_key"] == {} and glob["by_credential"] == {}
    assert await ledger.report(scope="team-b") == {
        "totals": ZERO,
        "by_provider": {},
        "by_model": {},
        "by_credential": {},
        "by_client_key": {},
    }

    everything = await ledger.report(scope="*")
    assert everything["totals"]["requests"] == 4
    assert everything["totals"]["input_tokens"] == 1117
    assert everything["totals"]["cost_usd"] is None
    assert everything["by_provider"]["openai"] == entry(
        requests=3, input_tokens=1110, output_tokens=56, cache_read_tokens=20, reasoning_tokens=10, cost_usd=0.0035
    )


async def test_names_with_separators(ledger: UsageLedger) -> None:
    await record(ledger, "ollama", "llama3:8b", Usage(input_tokens=1), 0.0, scope="a:b")
    await record(ledger, "ollama", "llama3", Usage(input_tokens=2), 0.0, scope="a")
    report = await ledger.report(scope="a:b")
    assert report["by_model"] == {"ollama/llama3:8b": entry(requests=1, input_tokens=1)}
    assert (await ledger.report(scope="a"))["by_model"] == {"ollama/llama3": entry(requests=1, input_tokens=2)}


async def test_replicas_share_the_counters(backend: StateBackend, clock: FakeClock, ledger: UsageLedger) -> None:
    other = UsageLedger(backend, ledger._keys, clock=clock)
    await record(ledger, "openai", "gpt-4.1", Usage(input_tokens=1), 0.1)
    await record(other, "openai", "gpt-4.1", Usage(input_tokens=2), 0.2)
    await record(other, "openai", "gpt-4.1", Usage(input_tokens=3), 0.3)
    for replica in (ledger, other):
        report = await replica.report()
        assert report["by_model"] == {"openai/gpt-4.1": entry(requests=3, input_tokens=6, cost_usd=0.6)}


async def test_calls_are_written_as_one_batch_of_a_handful_of_hashes(
    ledger: UsageLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, batches = ledger.pending._backend, []
    write_many = backend.write_many

    async def recording(ops: list[Any]) -> None:
        batches.append(ops)
        await write_many(ops)

    monkeypatch.setattr(backend, "write_many", recording)
    for _ in range(3):
        ledger.record(
            provider="openai",
            model="gpt-4.1",
            credential="...abcd",
            client_key="ck-1",
            scope=None,
            usage=Usage(input_tokens=10, output_tokens=5),
            cost_usd=0.01,
            cost_source="config",
        )
    await ledger.pending.flush()
    (ops,) = batches
    assert [op[0] for op in ops] == ["hincr"] * 4  # all time, then the minute, hour and day buckets
    assert sum(len(op[2]) for op in ops) == 4 * 3 + 4 * 3  # was 84 increments in 20 hashes per call
    assert ops[0][2]["m:openai/gpt-4.1:input_tokens"] == 30 and ops[0][2]["k:ck-1:requests"] == 3
    model_fields = {f"m:openai/gpt-4.1:{f}" for f in ("requests", "input_tokens", "output_tokens", "cost_nusd")}
    assert ops[0][3] is None and all(op[3] and set(op[2]) == model_fields for op in ops[1:])  # buckets expire


async def test_keys_stay_bounded_whatever_the_model_names(backend: StateBackend, ledger: UsageLedger) -> None:
    for i in range(300):
        await record(ledger, "openai", f"model-{i}", Usage(input_tokens=1), 0.0)
    keys = ledger._keys
    report = await ledger.report()
    assert len(report["by_model"]) == 300 and report["totals"]["requests"] == 300
    if hasattr(backend, "_client"):
        names = [k async for k in backend._client.scan_iter(match=keys.prefix + "*")]
        assert len(names) == 4  # one all-time hash and one bucket per window, not two keys per model
        for name in names:
            ttl = await backend._client.pttl(name)
            assert ttl > 0 or name.decode() == keys.usage_total("-")


async def test_series_by_provider_and_model_over_time(ledger: UsageLedger, clock: FakeClock) -> None:
    await record(ledger, "openai", "gpt-4.1", Usage(input_tokens=1, output_tokens=2), 0.25)
    clock.advance(60)
    await record(ledger, "openai", "gpt-4.1", Usage(input_tokens=3, output_tokens=4), 0.5)
    await record(ledger, "anthropic", "claude", Usage(input_tokens=5), None)
    series = await ledger.series("minute")
    assert series["bucket_seconds"] == 60 and len(series["series"]) == 120
    *_, before, latest = series["series"]
    assert latest["t"] == clock.now // 60 * 60 and before["t"] == latest["t"] - 60
    assert before["by_model"] == {
        "openai/gpt-4.1": {"requests": 1, "input_tokens": 1, "output_tokens": 2, "cost_usd": 0.25}
    }
    assert latest["by_provider"] == {
        "anthropic": {"requests": 1, "input_tokens": 5, "output_tokens": 0, "cost_usd": None},
        "openai": {"requests": 1, "input_tokens": 3, "output_tokens": 4, "cost_usd": 0.5},
    }
    assert series["series"][0]["by_model"] == {}
    day = await ledger.series("day")
    assert day["bucket_seconds"] == 86400
    assert day["series"][-1]["by_provider"]["openai"] == {
        "requests": 2,
        "input_tokens": 4,
        "output_tokens": 6,
        "cost_usd": 0.75,
    }
    with pytest.raises(ValueError, match="series"):
        await ledger.series("week")


async def test_client_chosen_model_names_are_bounded(backend: StateBackend, clock: FakeClock) -> None:
    # A permissive upstream serves any model name: past the limit, new names share "<provider>/other", so the
    # hashes stop growing however many names clients invent.
    ledger = UsageLedger(backend, Keyspace(f"bounded-{uuid.uuid4().hex[:8]}:"), clock=clock, max_models=3)
    for i in range(50):
        await record(ledger, "openai", f"model-{i % 25}", Usage(input_tokens=1), 0.0)
    report = await ledger.report()
    assert sorted(report["by_model"]) == ["openai/model-0", "openai/model-1", "openai/model-2", "openai/other"]
    assert report["by_model"]["openai/other"]["requests"] == 44
    assert report["totals"]["requests"] == 50
