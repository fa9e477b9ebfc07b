"""Client-key budgets: refused with 429 and a retry-after once a period's limit is reached."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from asgi_rotator.config.models import Budget, ClientKey, RotatorConfig
from asgi_rotator.errors import GatewayError
from asgi_rotator.protocols.unified import Usage
from asgi_rotator.usage import QuotaGuard, UsageLedger, period_bounds

from ..clock import FakeClock
from .conftest import T0

DAY_END = 1_700_006_400.0  # 2023-11-15 00:00 UTC
MONTH_END = 1_701_388_800.0  # 2023-12-01 00:00 UTC


async def spend(ledger: UsageLedger, usage: Usage, cost: float | None, client_key: str = "ck-1") -> None:
    await ledger.record(
        provider="openai",
        model="gpt-4.1",
        credential="...abcd",
        client_key=client_key,
        scope=None,
        usage=usage,
        cost_usd=cost,
        cost_source="unknown" if cost is None else "provider",
    )


async def test_request_budget(ledger: UsageLedger, clock: FakeClock) -> None:
    guard = QuotaGuard(ledger)
    budget = Budget(requests=2)
    for _ in range(2):
        await guard.check("ck-1", budget)
        await spend(ledger, Usage(input_tokens=1), 0.0)
    with pytest.raises(GatewayError) as caught:
        await guard.check("ck-1", budget)
    error = caught.value
    assert (error.kind, error.status) == ("rate_limit", 429)
    assert "budget exceeded" in error.message
    assert error.retry_after == DAY_END - T0 == 6360
    await guard.check("ck-2", budget)  # another key has its own budget

    clock.now = DAY_END + 1  # a new day
    await guard.check("ck-1", budget)


async def test_token_budget(ledger: UsageLedger) -> None:
    guard = QuotaGuard(ledger)
    budget = Budget(tokens=100)
    await spend(ledger, Usage(input_tokens=50, output_tokens=30, cache_read_tokens=19), None)
    await guard.check("ck-1", budget)  # 99 tokens
    await spend(ledger, Usage(input_tokens=1), None)
    with pytest.raises(GatewayError, match="100 tokens per day"):
        await guard.check("ck-1", budget)


async def test_usd_budget_per_month(ledger: UsageLedger, clock: FakeClock) -> None:
    guard = QuotaGuard(ledger)
    budget = Budget(usd=1.0, period="month")
    await spend(ledger, Usage(input_tokens=1), 0.6)
    await spend(ledger, Usage(input_tokens=1), None)  # unknown cost does not count
    await guard.check("ck-1", budget)
    clock.advance(86400 * 3)  # later the same month
    await spend(ledger, Usage(input_tokens=1), 0.4)
    with pytest.raises(GatewayError) as caught:
        await guard.check("ck-1", budget)
    assert caught.value.status == 429
    assert caught.value.retry_after == MONTH_END - clock.now
    clock.now = MONTH_END
    await guard.check("ck-1", budget)


async def test_no_key_or_no_budget_is_unlimited(ledger: UsageLedger) -> None:
    guard = QuotaGuard(ledger)
    await guard.check(None, Budget(requests=1))
    await spend(ledger, Usage(input_tokens=1), 0.0)
    await guard.check("ck-1", None)


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
