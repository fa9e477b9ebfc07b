"""Cost precedence: provider-reported, then config pricing, then litellm's table, then unknown."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_rotator import litellm_loader
from asgi_rotator.config.models import Pricing
from asgi_rotator.protocols.unified import Usage
from asgi_rotator.usage import compute_cost

USAGE = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200, cache_write_tokens=100, reasoning_tokens=300)
FULL = Pricing(input=2.0, output=8.0, cache_read=0.5, cache_write=2.5, reasoning=10.0)


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """A stand-in litellm with a small price table (per-token prices, as litellm keeps them)."""
    fake = types.ModuleType("litellm")
    fake.model_cost = {  # type: ignore[attr-defined]
        "gpt-4o": {
            "input_cost_per_token": 2.5e-06,
            "output_cost_per_token": 1e-05,
            "cache_read_input_token_cost": 1.25e-06,
        },
        "gemini/gemini-2.5-pro": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05},
        "no-output-price": {"input_cost_per_token": 1e-06},
    }
    monkeypatch.setattr(litellm_loader, "_loaded", [fake])
    yield fake


@pytest.fixture
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(litellm_loader, "_loaded", [])
    yield


def test_provider_reported_cost_wins(litellm: Any) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, provider_cost_usd=0.0123)
    assert compute_cost(usage, FULL, provider="openai", model="gpt-4o") == (0.0123, "provider")


def test_provider_reported_zero_is_a_cost() -> None:
    usage = Usage(input_tokens=10, provider_cost_usd=0.0)
    assert compute_cost(usage, FULL, provider="p", model="m") == (0.0, "provider")


def test_config_pricing_bills_each_token_type_once() -> None:
    cost, source = compute_cost(USAGE, FULL, provider="openai", model="gpt-4.1")
    # input 1000*2 + cache_read 200*0.5 + cache_write 100*2.5 + non-reasoning output 200*8 + reasoning 300*10
    assert source == "config"
    assert cost == pytest.approx(6950 / 1e6, rel=1e-12)


def test_missing_cache_prices_fall_back_to_input_and_reasoning_to_output() -> None:
    cost, source = compute_cost(USAGE, Pricing(input=2.0, output=8.0), provider="openai", model="gpt-4.1")
    # input 1000*2 + cache_read 200*2 + cache_write 100*2 + output 500*8 (reasoning included)
    assert source == "config"
    assert cost == pytest.approx(6600 / 1e6, rel=1e-12)


def test_config_beats_litellm(litellm: Any) -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert compute_cost(usage, Pricing(input=1.0, output=2.0), provider="openai", model="gpt-4o") == (3.0, "config")


def test_missing_needed_price_is_unknown(litellm: Any) -> None:
    usage = Usage(input_tokens=100, output_tokens=10)
    assert compute_cost(usage, Pricing(input=2.0), provider="openai", model="gpt-4o") == (None, "unknown")


def test_price_for_a_zero_count_is_not_needed() -> None:
    usage = Usage(input_tokens=0, output_tokens=1000)
    cost, source = compute_cost(usage, Pricing(output=8.0), provider="p", model="m")
    assert (cost, source) == (8000 / 1e6, "config")


def test_litellm_table_by_model(litellm: Any) -> None:
    usage = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=400, cache_write_tokens=10)
    cost, source = compute_cost(usage, None, provider="openai", model="gpt-4o")
    # input 1000*2.5 + cache_read 400*1.25 + cache_write (input price) 10*2.5 + output 100*10, per million
    assert source == "litellm"
    assert cost == pytest.approx(4025 / 1e6, rel=1e-9)


def test_litellm_table_by_provider_and_model(litellm: Any) -> None:
    usage = Usage(input_tokens=1000, output_tokens=1000, cache_read_tokens=1000)
    cost, source = compute_cost(usage, None, provider="gemini", model="gemini-2.5-pro")
    assert source == "litellm"
    assert cost == pytest.approx((1250 + 1250 + 10000) / 1e6, rel=1e-9)


def test_litellm_entry_without_a_needed_price_is_unknown(litellm: Any) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    assert compute_cost(usage, None, provider="x", model="no-output-price") == (None, "unknown")
    assert compute_cost(usage, None, provider="x", model="not-in-table") == (None, "unknown")


def test_unknown_without_pricing_or_litellm(no_litellm: None) -> None:
    assert compute_cost(USAGE, None, provider="openai", model="gpt-4o") == (None, "unknown")
    assert compute_cost(USAGE, Pricing(), provider="openai", model="gpt-4o") == (None, "unknown")


def test_never_raises(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(litellm, "model_cost", {"gpt-4o": {"input_cost_per_token": "2.5e-06"}})
    assert compute_cost(Usage(input_tokens=5), None, provider="openai", model="gpt-4o") == (None, "unknown")
    bad = Usage(input_tokens=5, provider_cost_usd=float("nan"))
    assert compute_cost(bad, Pricing(input=1.0), provider="p", model="m") == (5 / 1e6, "config")
    weird: Any = Usage(input_tokens="many")  # type: ignore[arg-type]
    assert compute_cost(weird, FULL, provider="p", model="m") == (None, "unknown")


def test_an_estimated_cost_is_never_provider_reported() -> None:
    from asgi_rotator.protocols.cost import provider_cost

    assert provider_cost({}, {"prompt_tokens": 5, "estimated_cost": 0.5}) is None
    assert provider_cost({}, {"input_cost": 0.1, "output_cost": 0.2, "estimated_cost": 9.0}) == pytest.approx(0.3)
    assert provider_cost({"cost_details": {"estimated_cost": 0.5}}, {"prompt_tokens": 5}) is None
