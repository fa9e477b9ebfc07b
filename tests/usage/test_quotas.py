"""Client-key budgets: reserved by the admission that picks a credential, settled when the request ends."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pydantic import ValidationError

from asgi_rotator.config.models import Budget, ClientKey, RotatorConfig
from asgi_rotator.credentials.budget import period_bounds
from asgi_rotator.credentials.pool import CredentialPool
from asgi_rotator.errors import BudgetExceeded, NoCredentialAvailable
from asgi_rotator.state import StateBackend
from asgi_rotator.state.keys import Keyspace
from asgi_rotator.usage import QuotaGuard

from ..clock import FakeClock
from .conftest import T0

DAY_END = 1_700_006_400.0  # 2023-11-15 00:00 UTC
MONTH_END = 1_701_388_800.0  # 2023-12-01 00:00 UTC


class Bench:
    """A pool of plenty of credentials and a budget guard on one backend."""

    def __init__(self, backend: StateBackend, clock: FakeClock) -> None:
        config = RotatorConfig.model_validate(
            {"providers": {"p": {"protocol": "openai_chat", "base_url": "http://up/v1", "credentials": ["k1", "k2"]}}}
        )
        self.backend = backend
        keys = Keyspace(f"test:{uuid.uuid4().hex}:")
        self.pool = CredentialPool(config, backend, keys, clock=clock)
        self.guard = QuotaGuard(keys, clock=clock)

    async def spend(self, budget: Budget, tokens: int = 0, cost: float = 0.0, key: str = "ck-1") -> None:
        """One request of ``key``: admitted under ``budget``, then settled with what it used."""
        hold = self.guard.hold(key, budget)
        lease = await self.pool.acquire("p", "m", budget=hold)
        assert hold is not None and hold.taken
        ops = self.pool.release_ops(lease, served_tokens=tokens) + hold.settle_ops(tokens, round(cost * 1e9))
        await self.backend.write_many(ops)


@pytest.fixture
def bench(backend: StateBackend, clock: FakeClock) -> Bench:
    return Bench(backend, clock)


async def test_request_budget(bench: Bench, clock: FakeClock) -> None:
    budget = Budget(requests=2)
    for _ in range(2):
        await bench.spend(budget)
    with pytest.raises(BudgetExceeded) as caught:
        await bench.spend(budget)
    error = caught.value
    assert (error.kind, error.status) == ("rate_limit", 429)
    assert "budget exceeded" in error.message
    assert error.retry_after == DAY_END - T0 == 6360
    await bench.spend(budget, key="ck-2")  # another key has its own budget

    clock.now = DAY_END + 1  # a new day
    await bench.spend(budget)


async def test_a_burst_lands_exactly_on_a_request_budget(bench: Bench) -> None:
    budget = Budget(requests=20)

    async def one() -> bool:
        hold = bench.guard.hold("ck-1", budget)
        try:
            await bench.pool.acquire("p", "m", budget=hold)
        except BudgetExceeded:
            return False
        return True

    admitted = await asyncio.gather(*(one() for _ in range(60)))
    assert sum(admitted) == 20


async def test_a_failed_request_gives_its_reservation_back(bench: Bench) -> None:
    budget = Budget(requests=1)
    hold = bench.guard.hold("ck-1", budget)
    assert hold is not None
    lease = await bench.pool.acquire("p", "m", budget=hold)
    await bench.pool.release(lease)
    await bench.backend.write_many(hold.cancel_ops())  # nobody served it
    await bench.spend(budget)
    with pytest.raises(BudgetExceeded):
        await bench.spend(budget)


async def test_over_budget_is_not_a_missing_credential(bench: Bench) -> None:
    await bench.spend(Budget(requests=1))
    with pytest.raises(BudgetExceeded):
        await bench.pool.acquire("p", "m", budget=bench.guard.hold("ck-1", Budget(requests=1)))
    assert not isinstance(BudgetExceeded("1 requests", "day", 1.0), NoCredentialAvailable)


async def test_token_budget(bench: Bench) -> None:
    budget = Budget(tokens=100)
    await bench.spend(budget, tokens=99)
    await bench.spend(budget, tokens=1)  # 99 used: this one may still go, and overshoots by its own size
    with pytest.raises(BudgetExceeded, match="100 tokens per day"):
        await bench.spend(budget)


async def test_usd_budget_per_month(bench: Bench, clock: FakeClock) -> None:
    budget = Budget(usd=1.0, period="month")
    await bench.spend(budget, cost=0.6)
    await bench.spend(budget)  # unknown cost settles nothing
    clock.advance(86400 * 3)  # later the same month
    await bench.spend(budget, cost=0.4)
    with pytest.raises(BudgetExceeded) as caught:
        await bench.spend(budget)
    assert caught.value.status == 429
    assert caught.value.retry_after == MONTH_END - clock.now
    clock.now = MONTH_END
    await bench.spend(budget)


def test_no_key_or_no_budget_is_unlimited() -> None:
    guard = QuotaGuard(Keyspace())
    assert guard.hold(None, Budget(requests=1)) is None
    assert guard.hold("ck-1", None) is None


def test_period_bounds() -> None:
    assert period_bounds("day", T0) == (1_699_920_000, DAY_END)
    assert period_bounds("month", T0) == (1_698_796_800, MONTH_END)
    december = 1_703_000_000.0  # 2023-12-19
    assert period_bounds("month", december) == (1_701_388_800, 1_704_067_200.0)


def test_budget_config() -> None:
    config = RotatorConfig.model_validate(
        {"auth": {"api_keys": ["open-key", {"key": "k", "budget": {"usd": 5, "period": "month"}}]}}
    )
    assert config.auth.api_keys[0].budget is None
    assert config.auth.api_keys[1].budget == Budget(usd=5.0, period="month")
    with pytest.raises(ValidationError, match="at least one of"):
        ClientKey.model_validate({"key": "k", "budget": {"period": "day"}})
    with pytest.raises(ValidationError):
        Budget.model_validate({"requests": 10, "period": "week"})
